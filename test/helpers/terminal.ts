/**
 * Every control character in `text` that is not part of a colour (SGR) sequence as chalk writes
 * it: what a terminal would act on instead of showing.
 */
export function foreignControls(text: string): string[] {
  // eslint-disable-next-line no-control-regex
  return [...text.replace(/\x1b\[[0-9;]*m/g, '').matchAll(/[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]/g)].map((m) => m[0]);
}

/** Whether `text` carries a colour (SGR) sequence. */
export const hasColour = (text: string): boolean => /\x1b\[[0-9;]*m/.test(text); // eslint-disable-line no-control-regex
