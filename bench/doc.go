// Package bench holds supportd's comparative benchmarks: mailparse.Parse
// against the parser a Go developer would pick (enmime v2; the target is
// 5× its throughput) and, for reference only, a raw go-message walk of the
// same bytes (no longer a target).
//
// It is a separate module (bench/go.mod, replace supportd => ../) so that
// enmime never becomes a dependency of the product: the main module's go.mod
// does not mention it. Run it with `make bench` (scripts/bench), or directly:
//
//	cd bench && go test -run '^$' -bench . -benchmem
//
// # Inputs
//
//   - enmime: every .raw/.eml of the repository's copy of the enmime corpus
//     (testdata/enmime, or $SUPPORTD_CORPUS);
//   - mail: the project's realistic support emails (testdata/mail);
//   - att-5KB … att-25MB: a generated support email with one base64
//     attachment of that decoded size.
//
// Benchmark names are Parse/in=<input>/impl=<supportd|rawwalk|enmime>, so
// benchstat can pivot on impl (benchstat -col /impl).
//
// # Limits
//
// The raw walk does not descend into message/rfc822 parts (go-message's Walk
// does not); mailparse does. enmime reads every part into memory by design.
package bench
