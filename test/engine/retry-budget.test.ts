import { describe, expect, it } from 'vitest';
import { RetryBudget } from '../../src/engine/retry-budget.js';

describe('RetryBudget', () => {
  it('starts with a reserve, then allows one retry per ten first attempts', () => {
    const budget = new RetryBudget({ ratio: 0.1, reserve: 2 });
    expect([budget.withdraw(), budget.withdraw(), budget.withdraw()]).toEqual([true, true, false]);
    for (let i = 0; i < 9; i++) budget.deposit();
    expect(budget.withdraw()).toBe(false);
    budget.deposit();
    expect(budget.withdraw()).toBe(true);
  });

  it('caps what a long healthy run can bank', () => {
    const budget = new RetryBudget({ ratio: 0.1, reserve: 0, max: 5 });
    for (let i = 0; i < 10_000; i++) budget.deposit();
    expect(budget.available).toBe(5);
  });
});
