// Package versions maps a build number to its major version and decides whether
// that major is supported at a given moment (docs/design.md §4).
//
// The support policy reads: "Only the current Major version and one previous
// Major version … are supported. This will mean that 90 days after the release of
// Passwordstate V9 we will only be able to support Passwordstate Version 9 and
// Passwordstate Version 8." Check implements it:
//
//   - the current major is the highest configured major whose release date is on
//     or before the day of the check (a major with a later date is not current yet);
//   - the current and the next lower configured major are supported;
//   - the major below those stays supported for GraceDays (90) days after the
//     current major's release, inclusive: with V9 released 2021-02-15, V7 is
//     supported through 2021-05-16 (the 90th day after release) and unsupported
//     from 2021-05-17. Likewise a V10 released 2026-10-01 keeps V8 supported
//     through 2026-12-30.
//
// Days are calendar days: the release date is a date (its UTC day, as parsed from
// YYYY-MM-DD), the day of the check is taken in the location of the time passed,
// so callers pass the receipt time in the support time zone.
//
// Build ranges come from configuration (`versions:` in docs/design.md §9); Validate checks
// them (positive, first_build <= last_build, no overlap, unique majors, release
// dates in the order of the majors) and names the offending key, such as
// "versions[1].first_build". A build in no range, or no build (0), is not Known;
// the caller then asks for the build number instead of judging the version. A
// build of a major whose release date is still ahead (a pre-release) is Known and
// treated as supported, so no one is told to upgrade from something newer than
// the current release.
//
// The package is pure: no clock, no I/O; Check does not modify its input.
package versions
