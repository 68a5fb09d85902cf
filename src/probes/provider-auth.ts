/**
 * Providers that turned password ("basic") authentication off answer with recognisable texts;
 * shared by the SMTP, IMAP and POP3 probes. Calendar Server can only log in with a password.
 */
const BASIC_AUTH_DISABLED = [/\b5\.7\.30\b/, /\b5\.7\.139\b/, /application-specific password required/i, /basic authentication/i];

export function isBasicAuthDisabled(text: string): boolean {
  return BASIC_AUTH_DISABLED.some((re) => re.test(text));
}

export const OAUTH_ONLY_HINT =
  'The provider has turned off password ("basic") authentication, and Calendar Server cannot do OAuth2. Use an app password ' +
  '(Google and Microsoft accounts with 2-step verification), another SMTP relay that accepts passwords, or a local OAuth proxy ' +
  'such as email-oauth2-proxy that Calendar Server logs in to with a password.';

