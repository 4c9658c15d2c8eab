package sla

import (
	"fmt"
	"time"
)

// RegionSA is the only holiday region with built-in rules.
const RegionSA = "AU-SA"

// Holiday names used by SAHolidays.
const (
	nameNewYear        = "New Year's Day"
	nameNewYearAdd     = "New Year's Day (additional day)"
	nameAustraliaDay   = "Australia Day"
	nameAdelaideCup    = "Adelaide Cup Day"
	nameGoodFriday     = "Good Friday"
	nameEasterSaturday = "Easter Saturday"
	nameEasterSunday   = "Easter Sunday"
	nameEasterMonday   = "Easter Monday"
	nameAnzac          = "Anzac Day"
	nameKingsBirthday  = "King's Birthday"
	nameLabourDay      = "Labour Day"
	nameChristmasEve   = "Christmas Eve"
	nameChristmas      = "Christmas Day"
	nameChristmasAdd   = "Christmas Day (additional day)"
	nameProclamation   = "Proclamation Day"
	nameProclamAdd     = "Proclamation Day (additional day)"
	nameNewYearsEve    = "New Year's Eve"
	nameExtra          = "Extra holiday"
)

// partDayFrom is when the part-day holidays of 24 and 31 December begin.
const partDayFrom = 19 * time.Hour

// SAHolidays returns the South Australian public holidays of year, computed by the
// rules of the Public Holidays Act 2023 (SA), Schedule 1, sorted by date. A date
// on which two holidays fall (26 December 2022: Proclamation Day and the additional
// day for Christmas) appears once, its names joined with " / ". The rules of the
// 2023 Act are applied to every year, also to years before it took effect.
func SAHolidays(year int) []Holiday {
	var hs []Holiday
	add := func(t time.Time, name string) {
		hs = append(hs, Holiday{Date: t.Format(dateLayout), Name: name})
	}
	day := func(m time.Month, d int) time.Time { return time.Date(year, m, d, 0, 0, 0, 0, time.UTC) }

	// 1 January; on a Saturday or Sunday the following Monday is also a holiday.
	ny := day(time.January, 1)
	add(ny, nameNewYear)
	if isWeekend(ny) {
		add(nextWeekday(ny, time.Monday), nameNewYearAdd)
	}

	// 26 January; on a Saturday or Sunday the holiday moves to the following Monday.
	ad := day(time.January, 26)
	if isWeekend(ad) {
		ad = nextWeekday(ad, time.Monday)
	}
	add(ad, nameAustraliaDay)

	add(nthWeekday(year, time.March, time.Monday, 2), nameAdelaideCup)

	easter := easterSunday(year)
	add(easter.AddDate(0, 0, -2), nameGoodFriday)
	add(easter.AddDate(0, 0, -1), nameEasterSaturday)
	add(easter, nameEasterSunday)
	add(easter.AddDate(0, 0, 1), nameEasterMonday)

	// 25 April, with no additional day when it falls on a weekend.
	add(day(time.April, 25), nameAnzac)

	add(nthWeekday(year, time.June, time.Monday, 2), nameKingsBirthday)
	add(nthWeekday(year, time.October, time.Monday, 1), nameLabourDay)

	hs = append(hs, Holiday{Date: day(time.December, 24).Format(dateLayout), Name: nameChristmasEve, From: partDayFrom, Partial: true})

	// 25 December; on a Saturday or Sunday the following Monday is also a holiday.
	xmas := day(time.December, 25)
	add(xmas, nameChristmas)
	if isWeekend(xmas) {
		add(nextWeekday(xmas, time.Monday), nameChristmasAdd)
	}

	// 26 December; on a Saturday the following Monday is also a holiday, on a
	// Sunday or a Monday the following Tuesday.
	procl := day(time.December, 26)
	add(procl, nameProclamation)
	switch procl.Weekday() {
	case time.Saturday:
		add(nextWeekday(procl, time.Monday), nameProclamAdd)
	case time.Sunday, time.Monday:
		add(nextWeekday(procl, time.Tuesday), nameProclamAdd)
	}

	hs = append(hs, Holiday{Date: day(time.December, 31).Format(dateLayout), Name: nameNewYearsEve, From: partDayFrom, Partial: true})
	return mergeHolidays(hs)
}

// mergeHolidays sorts hs by date and leaves one entry per date: a whole-day
// holiday wins over a part-day one; names of the same kind are joined.
func mergeHolidays(hs []Holiday) []Holiday {
	byDate := make(map[string]int, len(hs))
	var out []Holiday
	for _, h := range hs {
		i, ok := byDate[h.Date]
		if !ok {
			byDate[h.Date] = len(out)
			out = append(out, h)
			continue
		}
		o := &out[i]
		switch {
		case o.Partial && !h.Partial:
			*o = h
		case o.Partial == h.Partial:
			o.Name += " / " + h.Name
			if h.Partial && h.From < o.From {
				o.From = h.From
			}
		}
	}
	sortHolidays(out)
	return out
}

func sortHolidays(hs []Holiday) {
	// Insertion sort: lists are short and Date strings sort chronologically.
	for i := 1; i < len(hs); i++ {
		for j := i; j > 0 && hs[j].Date < hs[j-1].Date; j-- {
			hs[j], hs[j-1] = hs[j-1], hs[j]
		}
	}
}

func isWeekend(t time.Time) bool {
	return t.Weekday() == time.Saturday || t.Weekday() == time.Sunday
}

// nextWeekday returns the first day strictly after t that is a wd.
func nextWeekday(t time.Time, wd time.Weekday) time.Time {
	n := (int(wd) - int(t.Weekday()) + 7) % 7
	if n == 0 {
		n = 7
	}
	return t.AddDate(0, 0, n)
}

// nthWeekday returns the n-th (1-based) wd of month in year, in UTC.
func nthWeekday(year int, month time.Month, wd time.Weekday, n int) time.Time {
	first := time.Date(year, month, 1, 0, 0, 0, 0, time.UTC)
	off := (int(wd) - int(first.Weekday()) + 7) % 7
	return first.AddDate(0, 0, off+7*(n-1))
}

// easterSunday computes Easter Sunday of the Gregorian calendar (the anonymous
// Gregorian algorithm, "Meeus/Jones/Butcher"), in UTC.
func easterSunday(year int) time.Time {
	a := year % 19
	b := year / 100
	c := year % 100
	d := b / 4
	e := b % 4
	f := (b + 8) / 25
	g := (b - f + 1) / 3
	h := (19*a + b - d - g + 15) % 30
	i := c / 4
	k := c % 4
	l := (32 + 2*e + 2*i - h - k) % 7
	m := (a + 11*h + 22*l) / 451
	month := (h + l - 7*m + 114) / 31
	day := (h+l-7*m+114)%31 + 1
	return time.Date(year, time.Month(month), day, 0, 0, 0, 0, time.UTC)
}

const dateLayout = "2006-01-02"

// parseDate parses a YYYY-MM-DD date.
func parseDate(s string) (time.Time, error) {
	t, err := time.Parse(dateLayout, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is not a date YYYY-MM-DD", s)
	}
	return t, nil
}
