// Kept apart from delivery.ts (which loads axios): `sync push` reads these while its options are
// registered, at every start of the program, whatever the command.

/**
 * A 1000 ms window held open this much longer. Departures are paced exactly (see GRANT_LEAD_MS);
 * what remains is jitter on the platform's side between our socket write and its count: measured
 * against the mock (`npm run bench push`, 2 cores) at p99 4–8 ms idle (2026-11-30), once up to
 * 26 ms, and up to 24–75 ms with one core busy and other load on the machine. That busy-machine
 * part is covered by the lateness margin (engine/lateness-margin.ts: the window widens by the
 * largest lateness of our last 10 departures, up to 250 ms, which is how a busy machine shows),
 * and a 429 widens it further (RateLimiter.widenMargin). The base was 50 ms until 2026-11-30.
 * 10 ms also held (0 arrivals over the limit in 5 idle and 5 busy-core runs, efficiency 0.937–0.941)
 * but sits below the 15–18 ms our write → the platform's count reached in those same benches; 20 ms
 * covers it (0 over in 5 + 5, 0.916–0.932 idle; docs/benchmarks.md, "Push start, tail and margin").
 * Every 10 ms costs a push ~1% (smooth pacing: N intervals of (1000 + margin) / rate).
 */
export const ARRIVAL_MARGIN_MS = 20;
/**
 * Slots are granted this long before the request may leave, so forming and serializing a batch
 * (measured p99 ≈ 20–60 ms for 1,000 profiles on a busy 2-core machine) happens before its
 * departure instead of being added to every interval; the transport holds the bytes until then.
 */
export const GRANT_LEAD_MS = 60;

/** How push and serve pace the platform in-process. */
export const DELIVERY_PACING = { smooth: true, marginMs: ARRIVAL_MARGIN_MS, leadMs: GRANT_LEAD_MS } as const;

/**
 * Through a shared quota (Redis) the window keeps the 50 ms it had: several processes take turns
 * in one window, each knows only its own departures' lateness, and a Redis round trip sits between
 * grant and departure. At 20 ms the suite's "two pushes and a serve share one limit" saw one
 * arrival answered 429 in a CI run on a busy machine (2026-11-30); at 50 ms it never had.
 */
export const SHARED_ARRIVAL_MARGIN_MS = 50;

/** How push and serve pace the platform through a shared quota. */
export const SHARED_DELIVERY_PACING = { ...DELIVERY_PACING, marginMs: SHARED_ARRIVAL_MARGIN_MS } as const;
