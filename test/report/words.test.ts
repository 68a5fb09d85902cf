import { describe, expect, it } from 'vitest';
import { withArticle } from '../../src/report/words.js';

describe('withArticle', () => {
  it('says "a" or "an" as the name is read aloud', () => {
    expect(['VEVENT', 'X-A', 'INTEGER', 'int', 'URI', 'UTC_OFFSET', 'Duration', 'float'].map(withArticle)).toEqual([
      'a VEVENT',
      'an X-A',
      'an INTEGER',
      'an int',
      'a URI',
      'a UTC_OFFSET',
      'a Duration',
      'a float',
    ]);
  });
});
