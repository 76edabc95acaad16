import { describe, expect, it, vi } from 'vitest';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { AnswerPacer, TURN_BUDGET_MS } from '../../src/serve/answer-pacer.js';

/**
 * A pacer whose turns the test runs one at a time, on a clock that answering moves: each answer
 * takes `costMs` (and the one answering `slowAt`, if any, `slowMs` instead).
 */
function paced(budgetMs: number, costMs = 1, slow: { at?: number; ms?: number } = {}) {
  const turns: (() => void)[] = [];
  let now = 1000;
  const pacer = new AnswerPacer<number>(budgetMs, (callback) => turns.push(callback), () => now);
  const answered: number[] = [];
  const nextTurn = (): void => turns.shift()!();
  const answer = (value: number): void =>
    pacer.hand((v) => {
      answered.push(v);
      now += v === slow.at ? slow.ms! : costMs;
    }, value);
  return { pacer, answered, nextTurn, turnsWaiting: () => turns.length, answer };
}

describe('AnswerPacer', () => {
  it('answers callers in a turn until its time budget is spent, in the order handed in, and schedules no turn when nothing is left', () => {
    // 3 ms per answer against a budget of 8: answered at 0, 3, 6 ms into the turn, the budget spent at 9.
    const { pacer, answered, nextTurn, turnsWaiting, answer } = paced(8, 3);
    for (let i = 1; i <= 7; i++) answer(i);
    expect(answered).toEqual([]);
    expect(turnsWaiting()).toBe(1);
    expect(pacer.pending).toBe(7);
    nextTurn();
    expect(answered).toEqual([1, 2, 3]);
    expect(pacer.pending).toBe(4);
    expect(turnsWaiting()).toBe(1);
    nextTurn();
    expect(answered).toEqual([1, 2, 3, 4, 5, 6]);
    nextTurn();
    expect(answered).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(pacer.pending).toBe(0);
    expect(turnsWaiting()).toBe(0);
  });

  it('stops at the budget exactly: an answer that ends the budget is the last of its turn', () => {
    const { answered, nextTurn, answer } = paced(4, 2);
    for (let i = 1; i <= 5; i++) answer(i);
    nextTurn();
    expect(answered).toEqual([1, 2]);
  });

  it('answers at least one caller per turn, however slow, and fast answers fill a turn whatever their number', () => {
    const { answered, nextTurn, turnsWaiting, answer } = paced(8, 0.001, { at: 1, ms: 50 });
    for (let i = 1; i <= 3000; i++) answer(i);
    nextTurn();
    expect(answered).toEqual([1]);
    nextTurn();
    expect(answered).toHaveLength(3000);
    expect(turnsWaiting()).toBe(0);
  });

  it('a result handed in while slices are being answered waits behind the earlier ones; a new burst later starts a new turn', () => {
    const { answered, nextTurn, turnsWaiting, answer } = paced(2, 1);
    answer(1);
    answer(2);
    answer(3);
    nextTurn();
    expect(answered).toEqual([1, 2]);
    answer(4);
    expect(turnsWaiting()).toBe(1);
    nextTurn();
    expect(answered).toEqual([1, 2, 3, 4]);
    expect(turnsWaiting()).toBe(0);
    answer(5);
    expect(turnsWaiting()).toBe(1);
    nextTurn();
    expect(answered).toEqual([1, 2, 3, 4, 5]);
  });

  it('keeps the order across many turns while the arrays are cut behind it', () => {
    const { pacer, answered, nextTurn, answer } = paced(3, 1);
    let handed = 0;
    for (let turn = 0; turn < 40; turn++) {
      // Two in per turn, three out: the backlog of 30 drains while new ones keep coming.
      if (turn === 0) for (let i = 0; i < 30; i++) answer(++handed);
      answer(++handed);
      answer(++handed);
      nextTurn();
    }
    expect(answered).toEqual(Array.from({ length: answered.length }, (_, i) => i + 1));
    expect(answered.length + pacer.pending).toBe(handed);
    while (pacer.pending > 0) nextTurn();
    expect(answered).toEqual(Array.from({ length: handed }, (_, i) => i + 1));
  });

  it(`by default spends up to TURN_BUDGET_MS (${TURN_BUDGET_MS} ms) of a setImmediate turn, on performance.now`, async () => {
    let now = 0;
    vi.spyOn(performance, 'now').mockImplementation(() => now);
    const pacer = new AnswerPacer<number>();
    const answered: number[] = [];
    // Each answer takes a quarter of the budget: four fit in a turn (the fourth ends it exactly).
    for (let i = 0; i < 7; i++) pacer.hand((v) => (answered.push(v), (now += TURN_BUDGET_MS / 4)), i);
    expect(answered).toHaveLength(0);
    await new Promise((resolve) => setImmediate(resolve));
    expect(answered).toEqual([0, 1, 2, 3]);
    await new Promise((resolve) => setImmediate(resolve));
    expect(answered).toEqual([0, 1, 2, 3, 4, 5, 6]);
    expect(pacer.pending).toBe(0);
  });
});

describe('AnswerPacer under steady load', () => {
  it('lets go of each result once it is answered, even while answers never run out (a busy server)', async () => {
    // Whether an object is still referenced is only seen through a garbage collection.
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const turns: (() => void)[] = [];
    // Two answers per turn: a budget of 2 ms on a clock each answer moves by 1.
    let now = 0;
    const pacer = new AnswerPacer<object>(2, (callback) => turns.push(callback), () => now);
    const early: WeakRef<object>[] = [];
    // Built here, so that nothing in the test itself keeps them.
    const handTwo = (keep: boolean): void => {
      for (let i = 0; i < 2; i++) {
        const result = { payload: 'x'.repeat(1024) };
        if (keep) early.push(new WeakRef(result));
        pacer.hand(() => void (now += 1), result);
      }
    };
    handTwo(true);
    handTwo(false);
    // Each turn answers two and two more arrive: the pacer never catches up for long.
    for (let turn = 0; turn < 50; turn++) {
      turns.shift()!();
      handTwo(false);
    }
    expect(pacer.pending).toBeGreaterThan(0);
    // WeakRefs let go only after the job that made them.
    await new Promise((resolve) => setImmediate(resolve));
    gc();
    expect(early.filter((ref) => ref.deref() !== undefined)).toHaveLength(0);
  });
});
