/**
 * The address an admin types (`--send-to`, `--attendee`, `--organizer`), checked before it can
 * reach a header. Apart from the other input checks (src/imip/input-validation.ts) because those
 * need the calendar library and this one must not: `test-smtp` loads only what SMTP needs.
 */
import { CannotRunError } from '../report/exit.js';

/** The value as the user should read it: quoted, control characters made visible. */
export function show(value: string): string {
  return JSON.stringify(value);
}

/**
 * One plain e-mail address, optionally written `mailto:addr`; returns the bare address.
 * Rejects CR, LF, NUL and other control characters, whitespace, angle brackets, a missing `@`,
 * more than one `@` outside a quoted local part, and RFC 5322 specials outside quotes
 * (which would turn the value into a list or a display name).
 */
export function validateAddress(flag: string, value: string): string {
  if (typeof value !== 'string' || value.length === 0) {
    throw new CannotRunError(`${flag}: an e-mail address is required`);
  }
  if (/[\r\n]/.test(value)) {
    throw new CannotRunError(`${flag}: ${show(value)} contains a line break; give one address on one line`);
  }
  if (value.includes('\0')) {
    throw new CannotRunError(`${flag}: ${show(value)} contains a NUL character`);
  }
  // eslint-disable-next-line no-control-regex
  if (/[\x00-\x1f\x7f]/.test(value)) {
    throw new CannotRunError(`${flag}: ${show(value)} contains a control character`);
  }
  if (/\s/.test(value)) {
    throw new CannotRunError(`${flag}: ${show(value)} contains a space; give the bare address, such as user@example.com`);
  }
  if (/[<>]/.test(value)) {
    throw new CannotRunError(
      `${flag}: ${show(value)} contains angle brackets; give the bare address without a display name, such as user@example.com`,
    );
  }
  const address = value.replace(/^mailto:/i, '');
  if (address.length === 0) throw new CannotRunError(`${flag}: ${show(value)} has nothing after mailto:`);
  if (address.length > 254) throw new CannotRunError(`${flag}: ${show(value)} is longer than an address can be (254 characters)`);

  // Find the @ signs outside a quoted local part, and specials outside quotes.
  const ats: number[] = [];
  let inQuote = false;
  for (let i = 0; i < address.length; i++) {
    const c = address[i]!;
    if (inQuote) {
      if (c === '\\') i++;
      else if (c === '"') inQuote = false;
      continue;
    }
    if (c === '"') inQuote = true;
    else if (c === '@') ats.push(i);
    else if ('(),:;[]\\'.includes(c) && ats.length === 0) {
      throw new CannotRunError(`${flag}: ${show(value)} contains "${c}" outside quotes; give one plain address, such as user@example.com`);
    }
  }
  if (inQuote) throw new CannotRunError(`${flag}: ${show(value)} has an unclosed quote`);
  if (ats.length === 0) throw new CannotRunError(`${flag}: ${show(value)} is not an e-mail address: it has no @`);
  if (ats.length > 1) {
    throw new CannotRunError(`${flag}: ${show(value)} has more than one @; give exactly one address, such as user@example.com`);
  }
  const at = ats[0]!;
  const local = address.slice(0, at);
  const domain = address.slice(at + 1);
  if (!local) throw new CannotRunError(`${flag}: ${show(value)} has nothing before the @`);
  if (!domain) throw new CannotRunError(`${flag}: ${show(value)} has nothing after the @`);
  const literal = /^\[[0-9A-Fa-f:.]+\]$/.test(domain) || /^\[IPv6:[0-9A-Fa-f:.]+\]$/i.test(domain);
  if (!literal) {
    if (/[",;:()[\]\\]/.test(domain)) throw new CannotRunError(`${flag}: ${show(value)} has characters that cannot appear in a domain`);
    if (domain.startsWith('.') || domain.endsWith('.') || domain.includes('..') || domain.split('.').some((l) => l.startsWith('-') || l.endsWith('-'))) {
      throw new CannotRunError(`${flag}: ${show(value)} does not end in a valid domain name`);
    }
  }
  if (!local.startsWith('"') && (local.startsWith('.') || local.endsWith('.') || local.includes('..'))) {
    throw new CannotRunError(`${flag}: ${show(value)} has a misplaced dot before the @`);
  }
  return address;
}
