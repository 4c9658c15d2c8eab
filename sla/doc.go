// Package sla computes the response deadline of a support message from its
// receipt time and the support calendar (docs/design.md §5).
//
// # Calendar
//
// Support hours are configured weekdays, from Open (inclusive) to Close
// (exclusive) on the local wall clock of the support time zone (default
// Australia/Adelaide, Mon–Fri 06:00–18:00: 06:00 is inside, 18:00 outside), minus
// public holidays. The zone comes from the IANA database, embedded in the binary
// (time/tzdata), so ACST +09:30 and ACDT +10:30 are right on any host.
//
// Holidays of region "AU-SA" are computed by rule (SAHolidays) after Schedule 1 of
// the Public Holidays Act 2023 (SA):
//
//   - 1 January; on a Saturday or Sunday the following Monday is an additional day;
//   - 26 January (Australia Day); on a Saturday or Sunday it moves to the Monday;
//   - Adelaide Cup Day, the second Monday in March;
//   - Good Friday, Easter Saturday, Easter Sunday, Easter Monday (Easter by the
//     Gregorian computus);
//   - 25 April (Anzac Day), with no additional day when it falls on a weekend;
//   - King's Birthday, the second Monday in June; Labour Day, the first Monday in October;
//   - 24 December and 31 December from 19:00 to midnight (part-day holidays);
//   - 25 December; on a Saturday or Sunday the following Monday is an additional day;
//   - 26 December (Proclamation Day); on a Saturday the following Monday, on a
//     Sunday or a Monday the following Tuesday, is an additional day.
//
// So when Christmas is a Sunday (2022) the holidays are Sun 25, Mon 26 (additional
// day for Christmas and Proclamation Day) and Tue 27; when it is a Saturday (2021,
// 2027) Sat 25, Sun 26, Mon 27 and Tue 28. The tests pin the published lists of
// 2026 and 2027. Configuration adds whole-day holidays (Extra) and removes rule
// holidays (Removed) by date, which is how a one-off proclamation by the Governor
// is followed without a new release.
//
// # Deadlines
//
// Compute takes the receipt time (IMAP INTERNALDATE, never the Date header):
//   - in support hours the target is InHours (2 h). With the elapsed clock (the
//     policy as written) the deadline is receipt + 2 h of real time; with the
//     business clock only time inside support hours counts: the clock pauses at
//     close and resumes at the next open, skipping closed days and holidays, so the
//     deadline lies inside support hours or exactly at a close;
//   - out of hours the guarantee is OutOfHours (24 h) of real elapsed time, exactly
//     86,400 s even across a daylight-saving change, whatever the clock; the
//     "generally within" target (12 h) is TargetDeadline.
//
// Deadlines are expressed in the support zone; FormatDeadline renders them for
// replies with the zone offset and UTC, FormatTarget as "2h" / "24h".
//
// # Invariants and limits
//
// The package is pure: no time.Now, no I/O; a Calendar is immutable after New
// (apart from an internal, locked holiday cache) and safe for concurrent use.
// New reports every configuration problem at once, each naming its YAML key
// (support.hours.open, sla.clock, support.holidays.extra[2], …).
//
// The 2023 Act's rules are applied to every year, also before 2024 (when the
// Holidays Act 1910 applied, without Easter Sunday). When two holidays fall on
// one date they are listed once, names joined, without any further additional
// day. Opening or closing times inside an hour skipped or repeated by a
// daylight-saving change (02:00–03:00 on the first Sunday of April or October in
// Adelaide) are resolved as time.Date does; with support on weekdays only this
// never arises. Searches for the next support hours stop after about ten years.
package sla
