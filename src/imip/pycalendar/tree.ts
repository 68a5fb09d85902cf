/** The tree pycalendar's parse builds (./calendar.ts), as the validation and the verdict read it. */
import type { ParsedProperty } from './property.js';

export interface PyComponent {
  /** The name as written after `BEGIN:`. */
  name: string;
  /** The properties the verdict and the validation read (calendar.ts `KEPT`), in order; every other one is parsed, then counted, then dropped. */
  properties: ParsedProperty[];
  /** How many properties of each name (as pycalendar keys them) it has, every one counted. */
  counts: Map<string, number>;
  /** The TZID parameters of its properties (the first value of each), distinct, in order. */
  tzids: string[];
  /** One of its property lines holds a control character other than tab (0x00-0x08, 0x0B, 0x0C, 0x0E-0x1F). */
  control: boolean;
  children: PyComponent[];
}
