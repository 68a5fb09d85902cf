/**
 * The two lines of pycalendar the server parsed calendars with (3.0 and later; 2.x used vobject):
 * - `pycalendar-2013`: CalendarServer 3.x–5.x, PyCalendar's server branch (`pycalendar/calendar.py`,
 *   class `PyCalendar`; apple/ccs-pycalendar 2fc49de, the code 5.0 shipped, answers as 3.2's and
 *   4.3's on every case tried);
 * - `pycalendar-2016`: 6.0 and later (`pycalendar/icalendar/calendar.py`, class `Calendar`;
 *   apple/ccs-pycalendar 4a50392 for 9.0, master for 9.2, answering alike).
 */
export type PyCalendarEra = 'pycalendar-2013' | 'pycalendar-2016';

/**
 * What pycalendar raises: `mReason` and `mData` of its `ErrorBase` (`PyCalendarError` in 2013).
 * `pythonType` is set when Python raises something else (a TypeError, an AttributeError), which
 * the server does not catch as a parse error but which fails the message all the same.
 */
export class PyCalendarError extends Error {
  constructor(
    readonly reason: string,
    readonly data: string = '',
    readonly pythonType?: string,
  ) {
    super(pythonType ? `${pythonType}: ${reason}` : data ? `${reason}: ${data}` : reason);
    this.name = 'PyCalendarError';
  }
}
