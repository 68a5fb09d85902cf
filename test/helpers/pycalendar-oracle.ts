/**
 * pycalendar as the test oracle (test/oracle/pycalendar*.test.ts): where its sources are, and the
 * Python that loads the era's version as CalendarServer runs it.
 *
 * `IMIP_PYCALENDAR_2013` and `IMIP_PYCALENDAR_2016` name folders holding the `pycalendar` package
 * (the `src` of ccs-pycalendar as CalendarServer 5.0 and 9.2 shipped it); with a Python 2.7 too,
 * the generated cases run.
 */
import type { PyCalendarEra } from '../../src/imip/pycalendar/errors.js';
import { PYTHON2 } from './python.js';

export const PYCALENDAR_SOURCES: Record<PyCalendarEra, string | undefined> = {
  'pycalendar-2013': process.env.IMIP_PYCALENDAR_2013,
  'pycalendar-2016': process.env.IMIP_PYCALENDAR_2016,
};

export const PYCALENDAR_ORACLE_READY = Boolean(PYTHON2 && PYCALENDAR_SOURCES['pycalendar-2013'] && PYCALENDAR_SOURCES['pycalendar-2016']);

/**
 * Python 2 that imports the era's pycalendar under one set of names (`Property`, `Calendar`,
 * `Value`, `ErrorBase`; 2013's classes carry a `PyCalendar` prefix) and registers the value types
 * CalendarServer registers when it starts (twistedcaldav/__init__.py: the two comment properties
 * from 4.2, the travel properties from 6.0), as the port has them.
 */
export function pycalendarPrelude(era: PyCalendarEra): string {
  const common = `import sys\nsys.path.insert(0, ${JSON.stringify(PYCALENDAR_SOURCES[era])})\n`;
  if (era === 'pycalendar-2016') {
    return `${common}${String.raw`
from pycalendar.icalendar.property import Property
from pycalendar.icalendar.calendar import Calendar
from pycalendar.value import Value
from pycalendar.exceptions import ErrorBase
Property.registerDefaultValue("X-CALENDARSERVER-PRIVATE-COMMENT", Value.VALUETYPE_TEXT)
Property.registerDefaultValue("X-CALENDARSERVER-ATTENDEE-COMMENT", Value.VALUETYPE_TEXT)
Property.registerDefaultValue("X-APPLE-TRAVEL-DURATION", Value.VALUETYPE_DURATION, always_write_value=True)
Property.registerDefaultValue("X-APPLE-TRAVEL-START", Value.VALUETYPE_URI, always_write_value=True)
Property.registerDefaultValue("X-APPLE-TRAVEL-RETURN-DURATION", Value.VALUETYPE_DURATION, always_write_value=True)
Property.registerDefaultValue("X-APPLE-TRAVEL-RETURN", Value.VALUETYPE_URI, always_write_value=True)
`}`;
  }
  return `${common}${String.raw`
from pycalendar.property import PyCalendarProperty as Property
from pycalendar.calendar import PyCalendar as Calendar
from pycalendar.value import PyCalendarValue as Value
from pycalendar.exceptions import PyCalendarError as ErrorBase
Property.registerDefaultValue("X-CALENDARSERVER-PRIVATE-COMMENT", Value.VALUETYPE_TEXT)
Property.registerDefaultValue("X-CALENDARSERVER-ATTENDEE-COMMENT", Value.VALUETYPE_TEXT)
`}`;
}
