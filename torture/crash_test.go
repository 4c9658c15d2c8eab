package torture

import (
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// tortureMode is the size of a crash-torture run: CI (part of go test ./...)
// or long (TORTURE=long, what `make torture` runs).
type tortureMode struct {
	name     string
	messages int
	kills    int
}

func modeFromEnv() tortureMode {
	if os.Getenv("TORTURE") == "long" {
		return tortureMode{name: "long", messages: 1000, kills: 50}
	}
	return tortureMode{name: "ci", messages: 200, kills: 20}
}

// Crash torture: a backlog in Dovecot, `supportd run` SIGKILLed again and again
// — after random delays of 20–400 ms, and at protocol events seen by the proxies
// (during FETCH, after the decision commit before the marks, during SMTP DATA,
// after the 250 before the "sent" commit) — and restarted, until the kills are
// done; then one clean run finishes the backlog. Afterwards every message has
// exactly one reply or one recorded suppression/follow-up; duplicates are only
// copies with the same Message-ID (the RFC 1047 window), reported separately.
//
// TORTURE=long for ≥ 50 kills over ≥ 1,000 messages; TORTURE_SEED=n repeats a run.
func TestCrashTorture(t *testing.T) {
	mode := modeFromEnv()
	seed := tortureSeed(t)
	t.Logf("mode %s: %d messages, %d kills, TORTURE_SEED=%d", mode.name, mode.messages, mode.kills, seed)
	rng := rand.New(rand.NewPCG(seed, seed^0x5eed))
	const perDay = 3
	w := newWorld(t, worldOpts{batchSize: 5, repliesPerDay: perDay})
	// A little SMTP latency keeps the outbox behind intake, so both have work.
	w.slow.Store(int64(5 * time.Millisecond))

	// A quarter of the backlog at once, the rest spread over the kills, so that
	// every run starts with work to do and kills land in the middle of it.
	w.deliver(mode.messages / 4)
	kills, timerKills, timeouts := 0, 0, 0
	for kills < mode.kills {
		if target := mode.messages/4 + (mode.messages-mode.messages/4)*(kills+1)/mode.kills; len(w.items) < target {
			w.deliver(target - len(w.items))
		}
		p := w.start()
		if point := pickPoint(kills); point == "" {
			time.Sleep(time.Duration(20+rng.IntN(381)) * time.Millisecond)
			p.killNow()
			timerKills++
		} else {
			// Fire at the first or second occurrence; if the point is not
			// reached within 5 s (no work of that kind), kill anyway.
			w.trig.arm(point, rng.IntN(2), p.killNow)
			select {
			case <-p.done:
			case <-time.After(5 * time.Second):
				timeouts++
				t.Logf("kill %d: %s not reached within 5s (%d of %d replies out)", kills, point, len(w.mailpit.Messages(t)), w.wantReplies(perDay))
			}
			w.trig.disarm()
			p.killNow()
		}
		<-p.done
		if ws, ok := p.cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
			t.Fatalf("supportd run ended on its own (%v) instead of by SIGKILL; log %s", p.err, p.log)
		}
		kills++
	}
	if len(w.items) < mode.messages {
		w.deliver(mode.messages - len(w.items))
	}

	w.slow.Store(0)
	p := w.start()
	want := w.wantReplies(perDay)
	if !w.waitReplies(want, time.Minute) {
		t.Errorf("only %d of %d messages answered within 1m of the final start", w.distinctReplied(), want)
	}
	time.Sleep(time.Second) // let a wrong extra reply show up
	p.term(t, 30*time.Second)

	s := w.check(perDay)
	s.kills = kills
	s.killsByPoint["timer"] = timerKills
	s.killsByPoint["point-not-reached"] = timeouts
	line := fmt.Sprintf("TORTURE %s seed=%d %s", mode.name, seed, s)
	t.Log(line)
	fmt.Println(line)
	s.assertClean(t)
	for _, pt := range allPoints {
		if s.killsByPoint[pt] == 0 {
			t.Errorf("no kill landed at %s", pt)
		}
	}
	if s.replies+s.recorded != len(w.items) {
		t.Errorf("%d replies + %d recorded != %d messages", s.replies, s.recorded, len(w.items))
	}
	if len(w.items) < mode.messages || kills < mode.kills {
		t.Errorf("ran %d kills over %d messages, want ≥ %d over ≥ %d", kills, len(w.items), mode.kills, mode.messages)
	}
}

// tortureSeed is TORTURE_SEED, else a new seed (logged by the tests).
func tortureSeed(t *testing.T) uint64 {
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("TORTURE_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("TORTURE_SEED: %v", err)
		}
		seed = v
	}
	return seed
}

// pickPoint chooses how run i dies: every other run after a random delay (""),
// the others at each protocol event in turn, so every point is hit in CI mode.
func pickPoint(i int) string {
	if i%2 == 0 {
		return ""
	}
	return allPoints[(i/2)%len(allPoints)]
}
