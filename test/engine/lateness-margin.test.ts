import { describe, expect, it } from 'vitest';
import { LatenessMargin, MAX_LATENESS_MARGIN_MS } from '../../src/engine/lateness-margin.js';

describe('LatenessMargin', () => {
  it('adds nothing before any departure, and nothing for early ones', () => {
    const margin = new LatenessMargin();
    expect(margin.extraMs).toBe(0);
    margin.record(-40);
    expect(margin.extraMs).toBe(0);
  });

  it('is the latest of the last ten departures, so the window narrows again once the machine is quiet', () => {
    const margin = new LatenessMargin();
    margin.record(120);
    for (let i = 0; i < 9; i++) margin.record(5);
    // Ten remembered: the 120 ms one is still among them.
    expect(margin.extraMs).toBe(120);
    margin.record(5);
    expect(margin.extraMs).toBe(5);
  });

  it('never adds more than the cap', () => {
    const margin = new LatenessMargin();
    margin.record(10_000);
    expect(margin.extraMs).toBe(MAX_LATENESS_MARGIN_MS);
    expect(MAX_LATENESS_MARGIN_MS).toBe(250);
  });
});
