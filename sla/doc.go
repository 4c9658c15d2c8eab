// Package sla computes the response deadline of a support message from its
// receipt time and the support calendar (docs/design.md §5, which also lists
// the South Australian holiday rules).
//
// Model. A Calendar holds the support hours (configured weekdays, Open
// inclusive to Close exclusive, on the wall clock of the support time zone,
// default Australia/Adelaide Mon–Fri 06:00–18:00) minus public holidays:
// those of region "AU-SA" computed by rule (SAHolidays, the Public Holidays
// Act 2023 (SA), part-day holidays on 24 and 31 December included), plus
// Extra whole days, minus Removed dates. The zone comes from the embedded
// IANA database (time/tzdata), so ACST/ACDT are right on any host.
//
// Compute takes the receipt time (IMAP INTERNALDATE, never the Date header):
//   - in support hours the target is InHours (2 h): with the elapsed clock
//     (the policy as written) receipt + 2 h of real time; with the business
//     clock only time inside support hours counts, so the deadline lies in
//     support hours or exactly at a close;
//   - out of hours the guarantee is OutOfHours (24 h) of real time, exactly
//     86,400 s even across a daylight-saving change, whatever the clock; the
//     "generally within" target (12 h) is TargetDeadline.
//
// Deadlines are in the support zone; FormatDeadline renders them for replies
// with the zone offset and UTC, FormatTarget as "2h" / "24h".
//
// Invariants. Pure: no time.Now, no I/O. A Calendar is immutable after New
// (apart from a locked holiday cache) and safe for concurrent use. New
// reports every configuration problem at once, each naming its YAML key
// (support.hours.open, sla.clock, support.holidays.extra[2], …).
//
// Limits. The 2023 Act's rules are applied to every year, also before 2024.
// Two holidays on one date are listed once, names joined, with no further
// additional day. Open or close times inside an hour skipped or repeated by
// a daylight-saving change resolve as time.Date does (never with weekday
// hours in Adelaide). Searches for the next support hours stop after about
// ten years.
package sla
