import { describe, expect, it } from 'vitest';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { ANSWERS_PER_TURN, AnswerPacer } from '../../src/serve/answer-pacer.js';

/** A pacer whose turns the test runs one at a time. */
function paced(perTurn: number) {
  const turns: (() => void)[] = [];
  const pacer = new AnswerPacer<number>(perTurn, (callback) => turns.push(callback));
  const answered: number[] = [];
  const nextTurn = (): void => turns.shift()!();
  return { pacer, answered, nextTurn, turnsWaiting: () => turns.length, answer: (value: number) => pacer.hand((v) => answered.push(v), value) };
}

describe('AnswerPacer', () => {
  it('answers a slice per turn, in the order handed in, and schedules no turn when nothing is left', () => {
    const { pacer, answered, nextTurn, turnsWaiting, answer } = paced(3);
    for (let i = 1; i <= 7; i++) answer(i);
    expect(answered).toEqual([]);
    expect(turnsWaiting()).toBe(1);
    expect(pacer.pending).toBe(7);
    nextTurn();
    expect(answered).toEqual([1, 2, 3]);
    expect(pacer.pending).toBe(4);
    nextTurn();
    expect(answered).toEqual([1, 2, 3, 4, 5, 6]);
    nextTurn();
    expect(answered).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(pacer.pending).toBe(0);
    expect(turnsWaiting()).toBe(0);
  });

  it('a result handed in while slices are being answered waits behind the earlier ones; a new burst later starts a new turn', () => {
    const { answered, nextTurn, turnsWaiting, answer } = paced(2);
    answer(1);
    answer(2);
    answer(3);
    nextTurn();
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

  it('by default answers ANSWERS_PER_TURN per setImmediate turn', async () => {
    const pacer = new AnswerPacer<number>();
    const answered: number[] = [];
    for (let i = 0; i < ANSWERS_PER_TURN + 1; i++) pacer.hand((v) => answered.push(v), i);
    expect(answered).toHaveLength(0);
    await new Promise((resolve) => setImmediate(resolve));
    expect(answered).toHaveLength(ANSWERS_PER_TURN);
    await new Promise((resolve) => setImmediate(resolve));
    expect(answered).toHaveLength(ANSWERS_PER_TURN + 1);
    expect(answered.at(-1)).toBe(ANSWERS_PER_TURN);
  });
});

describe('AnswerPacer under steady load', () => {
  it('lets go of each result once it is answered, even while answers never run out (a busy server)', async () => {
    // Whether an object is still referenced is only seen through a garbage collection.
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const turns: (() => void)[] = [];
    const pacer = new AnswerPacer<object>(2, (callback) => turns.push(callback));
    const early: WeakRef<object>[] = [];
    // Built here, so that nothing in the test itself keeps them.
    const handTwo = (keep: boolean): void => {
      for (let i = 0; i < 2; i++) {
        const result = { payload: 'x'.repeat(1024) };
        if (keep) early.push(new WeakRef(result));
        pacer.hand(() => undefined, result);
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
