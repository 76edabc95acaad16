import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { AuthError, HttpStatusError, InterruptedError, UnavailableError } from '../../src/errors.js';
import { checkListing, countListing, recordText } from '../../src/pull/listing-check.js';
import type { ReqresPage } from '../../src/pull/schemas.js';

const user = (id: number, more: Record<string, unknown> = {}) => ({ id, email: `u${id}@example.com`, ...more });

/** Pages of `perPage` cut from `records`, each announcing `total` (default: the records' count; null: none). */
function pagesOf(records: unknown[], perPage: number, announced: number | null = records.length): Map<number, ReqresPage> {
  const total = announced ?? undefined;
  const totalPages = Math.ceil(records.length / perPage);
  const pages = new Map<number, ReqresPage>();
  for (let page = 1; page <= totalPages; page++) {
    pages.set(page, { page, total, total_pages: totalPages, data: records.slice((page - 1) * perPage, page * perPage) });
  }
  return pages;
}

/** A refetch that answers from `pages` and records what it was asked. */
function refetchFrom(pages: Map<number, ReqresPage>) {
  const asked: number[] = [];
  const refetch = async (page: number) => {
    asked.push(page);
    return pages.get(page)!;
  };
  return { refetch, asked };
}

const never = async (): Promise<ReqresPage> => {
  throw new Error('must not refetch');
};

describe('countListing', () => {
  it('counts records by their text: the same id with other content is two records, the same text twice on two pages is one', () => {
    const pages = pagesOf([user(1), user(2), user(2, { avatar: '' }), user(2), user(3), user(3)], 2);
    expect(countListing(pages)).toEqual({
      received: 6,
      distinct: 3 + 1,
      // user(2) on page 2 first came on page 1; the second user(3) is on the same page as the first.
      repeatedAcrossPages: 1,
      firstCopyPages: [1],
      announced: 6,
      totalChanged: false,
    });
  });

  it('takes the largest total any page announced, and says when they disagreed', () => {
    const pages = pagesOf([user(1), user(2), user(3)], 1);
    pages.get(2)!.total = 5;
    pages.get(3)!.total = 4;
    expect(countListing(pages)).toMatchObject({ announced: 5, totalChanged: true });
    expect(countListing(pagesOf([user(1)], 1, null))).toMatchObject({ announced: undefined, totalChanged: false });
  });

  it('counts records without a usable id, and a record too deep to print as one of its own', () => {
    let deep: unknown = {};
    for (let i = 0; i < 20_000; i++) deep = { deep };
    const pages = pagesOf([{ email: 'no-id@example.com' }, { email: 'no-id@example.com' }, deep, deep], 2);
    expect(countListing(pages)).toMatchObject({ received: 4, distinct: 1 + 2, repeatedAcrossPages: 0 });
    expect(recordText(deep, 'fallback')).toBe('fallback');
  });
});

describe('checkListing', () => {
  it('the bundled fixture (two ids twice, with different content; total 26) is complete, with nothing fetched again', async () => {
    const fixture = JSON.parse(readFileSync(new URL('../../fixtures/reqres/users.json', import.meta.url), 'utf8')) as unknown[];
    const verdict = await checkListing(pagesOf(fixture, 6), never);
    expect(verdict).toMatchObject({ complete: true, duplicateRows: 0, count: { received: 26, distinct: 26, announced: 26 } });
  });

  it('a listing that moved (repeats across pages, a different page when fetched again) is incomplete', async () => {
    const first = pagesOf([user(6), user(5), user(4), user(3), user(2), user(1)], 2);
    // Two users arrived between requests: page 2 and 3 each start with what the page before ended with.
    first.set(2, { ...first.get(2)!, data: [user(5), user(4)] });
    first.set(3, { ...first.get(3)!, data: [user(4), user(3)] });
    const now = pagesOf([user(8), user(7), user(6), user(5), user(4), user(3)], 2);
    const { refetch, asked } = refetchFrom(now);
    const verdict = await checkListing(first, refetch);
    expect(verdict).toEqual({
      complete: false,
      count: expect.objectContaining({ received: 6, distinct: 4, repeatedAcrossPages: 2, firstCopyPages: [1, 2] }),
      reason: 'it announced 6 users, 4 different ones arrived (2 seen again on a later page)',
    });
    // It stops at the first page that changed.
    expect(asked).toEqual([1]);
  });

  it('a stable source that holds the same row twice is complete: every page fetched again is the same', async () => {
    const pages = pagesOf([user(1), user(2), user(2), user(3), user(3), user(4)], 2);
    const { refetch, asked } = refetchFrom(pages);
    const verdict = await checkListing(pages, refetch);
    expect(verdict).toMatchObject({ complete: true, duplicateRows: 2 });
    expect(asked).toEqual([1, 2]);
  });

  it('a page fetched again whose records were only edited counts as changed too (a rerun is the safe answer)', async () => {
    const pages = pagesOf([user(1), user(2), user(2), user(3)], 2);
    const edited = pagesOf([user(1), user(2, { last_login: 'now' }), user(2), user(3)], 2);
    const verdict = await checkListing(pages, refetchFrom(edited).refetch);
    expect(verdict.complete).toBe(false);
  });

  it('records missing without any repeat (a source that lost some, or holds fewer than it says) are incomplete, nothing fetched again', async () => {
    const verdict = await checkListing(pagesOf([user(1), user(2), user(3)], 2, 5), never);
    expect(verdict).toMatchObject({ complete: false, reason: 'it announced 5 users, 3 different ones arrived' });
  });

  it('repeats within one page never come from a move: no refetch, and the count alone decides', async () => {
    const verdict = await checkListing(pagesOf([user(1), user(1), user(2)], 3), never);
    expect(verdict).toMatchObject({ complete: false, reason: 'it announced 3 users, 2 different ones arrived' });
  });

  it('a total that changed mid-run: the largest is the bar, and repeats are not put down to duplicate rows', async () => {
    // Appended at the end while paging: the last page had it, the export is complete.
    const grown = pagesOf([user(1), user(2), user(3)], 2, 2);
    grown.get(2)!.total = 3;
    expect(await checkListing(grown, never)).toMatchObject({ complete: true });

    // Inserted before a page already fetched: one record arrived twice, the new one never.
    const shifted = pagesOf([user(1), user(2), user(2), user(3)], 2, 4);
    shifted.get(2)!.total = 5;
    expect(await checkListing(shifted, never)).toMatchObject({
      complete: false,
      reason: 'it announced 5 users (its total changed during the run), 3 different ones arrived (1 seen again on a later page)',
    });
  });

  it('a source that announces no total cannot be checked, and passes (nothing said about its repeats)', async () => {
    expect(await checkListing(pagesOf([user(1), user(1)], 1, null), never)).toMatchObject({ complete: true, duplicateRows: 0 });
  });

  it('a page that cannot be fetched again leaves the question open: incomplete, saying why', async () => {
    const pages = pagesOf([user(1), user(2), user(2), user(3)], 2);
    const verdict = await checkListing(pages, async () => {
      throw new UnavailableError('page 1: HTTP 503 (gave up after 3 retries)');
    });
    expect(verdict).toMatchObject({
      complete: false,
      reason:
        'it announced 4 users, 3 different ones arrived (1 seen again on a later page), and page 1 could not be fetched again to tell a moved listing from rows the source holds twice (page 1: HTTP 503 (gave up after 3 retries))',
    });
  });

  it('an interruption or a refused key while fetching again ends the run as such', async () => {
    const pages = pagesOf([user(1), user(2), user(2), user(3)], 2);
    for (const error of [new InterruptedError(), new AuthError('refused')]) {
      await expect(
        checkListing(pages, async () => {
          throw error;
        }),
      ).rejects.toBe(error);
    }
    await expect(checkListing(pages, async () => Promise.reject(new HttpStatusError(404, 'gone')))).resolves.toMatchObject({ complete: false });
  });
});
