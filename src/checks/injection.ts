/** How replies get into the server (`injectMessage`): a directory user on 2.x, a shared secret on 3.x-4.x, nothing on 5.0+. */
import { getPath } from '../config/load.js';
import { GATEWAY_LINES, finding, IMIP, valueEvidence, type ConfigRule } from './rule.js';

export const DEFAULT_INJECTION_USER = 'com.apple.calendarserver';

export const usernameDefault: ConfigRule = {
  id: 'injection.username-default',
  severity: 'warning',
  lines: ['2.x'],
  summary: '2.x: Username empty or default: the gateway authenticates as com.apple.calendarserver, which must exist in the directory.',
  check(ctx) {
    if (ctx.version.line !== '2.x') return [];
    const written = getPath(ctx.config.merged, `${IMIP}.Username`);
    const user = ctx.settings.username ?? '';
    if (written !== undefined && user && user !== DEFAULT_INJECTION_USER) return [];
    return [
      finding(
        this,
        `${IMIP}.Username`,
        user
          ? `the mail gateway injects replies as the directory user "${DEFAULT_INJECTION_USER}"${written === undefined ? ' (the default)' : ''}; if no such user exists in the server's directory, every reply fails with "iMIP injection principal not found: ${DEFAULT_INJECTION_USER}"`
          : 'Scheduling.iMIP.Username is empty: the gateway has no user to inject replies as ("not able to process reply; authentication required for calendar server")',
        `Create a user (short name ${DEFAULT_INJECTION_USER}, or one of your choosing) in the server's directory and put its short name and password in Scheduling.iMIP.Username and Password. "imip diagnose --directory FILE" checks an XML accounts file.`,
        valueEvidence(ctx, `${IMIP}.Username`),
        user ? 'warning' : 'error',
      ),
    ];
  },
};

export const passwordMissing: ConfigRule = {
  id: 'injection.password-missing',
  severity: 'error',
  lines: GATEWAY_LINES,
  summary: '2.x: the injection user has no password; 3.x-4.x: the shared secret is empty.',
  check(ctx) {
    if (ctx.version.line === '5.0+' || ctx.settings.password) return [];
    const mac = ctx.platform === 'darwin';
    const account = ctx.settings.username || DEFAULT_INJECTION_USER;
    const keychain = mac ? ` On macOS the server first looks for it in the System keychain (account "${account}").` : '';
    return [
      finding(
        this,
        `${IMIP}.Password`,
        ctx.version.line === '2.x'
          ? `Scheduling.iMIP.Password is empty: the gateway cannot authenticate as "${account}" to inject replies, and the server cannot authenticate to the gateway to send invitations.${keychain}`
          : `Scheduling.iMIP.Password, the shared secret sent in the ${ctx.settings.header ?? 'x-calendarserver-internal'} header, is empty: any client that sends that header empty is treated as the mail gateway.${keychain}`,
        ctx.version.line === '2.x'
          ? `Set Scheduling.iMIP.Password to the password of the directory user "${account}".`
          : 'Set Scheduling.iMIP.Password to a long random string (for example the output of "openssl rand -hex 24"); both processes read the same config.',
        { ...valueEvidence(ctx, `${IMIP}.Password`, 'password'), platform: ctx.platform },
        mac ? 'warning' : 'error',
      ),
    ];
  },
};

export const gatewayRemote: ConfigRule = {
  id: 'gateway.remote',
  severity: 'info',
  lines: GATEWAY_LINES,
  summary: '2.x-4.x: MailGatewayServer is not localhost, so the gateway is not started on this host.',
  check(ctx) {
    const host = ctx.settings.mailGatewayServer;
    if (host === null || host === 'localhost') return [];
    return [
      finding(
        this,
        `${IMIP}.MailGatewayServer`,
        `MailGatewayServer is "${host}": this host does not start the mail gateway; it must run on ${host}, and only ${host} may submit replies (others get 403 "Only ${host} is allowed to submit internal scheduling requests")`,
        `Run the mail gateway on ${host}, or set MailGatewayServer to localhost to run it here.`,
        valueEvidence(ctx, `${IMIP}.MailGatewayServer`),
      ),
    ];
  },
};

export const injectionRules: ConfigRule[] = [usernameDefault, passwordMissing, gatewayRemote];
