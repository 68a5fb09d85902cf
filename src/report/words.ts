/**
 * "a" or "an" before a name as an admin reads it aloud: by its first vowel sound, with the names
 * spelled letter by letter treated as such ("an X-WR-ALARM", "a URI", "a UTC_OFFSET", "a VEVENT").
 */
export function withArticle(word: string): string {
  const an = /^X-/i.test(word) ? true : /^U[A-Z_]/.test(word) ? false : /^[aeiou]/i.test(word);
  return `${an ? 'an' : 'a'} ${word}`;
}

/** The text with its first letter in upper case, to start a sentence. */
export function capitalised(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}
