// Kept apart from delivery.ts (which loads axios): `sync push` reads these while its options are
// registered, at every start of the program, whatever the command.

/**
 * A 1000 ms window held open this much longer. Departures are paced exactly (see GRANT_LEAD_MS);
 * what remains is jitter on the platform's side between our socket write and its count: measured
 * against the mock (`npm run bench push`, 2 cores) at ≤ 5–26 ms idle and up to 24–75 ms with one core
 * busy and other load on the machine. 50 ms covers nearly all of it while keeping idle efficiency
 * near 0.94; a 429 widens it further (RateLimiter.widenMargin).
 */
export const ARRIVAL_MARGIN_MS = 50;
/**
 * Slots are granted this long before the request may leave, so forming and serializing a batch
 * (measured p99 ≈ 20–60 ms for 1,000 profiles on a busy 2-core machine) happens before its
 * departure instead of being added to every interval; the transport holds the bytes until then.
 */
export const GRANT_LEAD_MS = 60;

/** How push and serve pace the platform, in-process or through a shared quota. */
export const DELIVERY_PACING = { smooth: true, marginMs: ARRIVAL_MARGIN_MS, leadMs: GRANT_LEAD_MS } as const;
