import { AuthError, InterruptedError, toSyncError } from '../errors.js';
import type { ReqresPage } from './schemas.js';
import { count as counted } from '../ui/count.js';

/**
 * Did the pages of one run add up to the listing the source announced?
 *
 * A listing that moves while it is paged (a newest-first feed gaining records, a record deleted
 * from a page already fetched) hands out some records twice, on both sides of a page boundary,
 * and never shows others: every page answers 200 and the run looked complete. What gives it away
 * is the count: fewer different records arrived than the `total` the source announced.
 *
 * "Different" is by the record's text, not its id: the same id with different content is real
 * data (the spec's dedup rule picks the best copy; the bundled fixture has two such ids on
 * purpose), while the very same text arriving again on a later page is what a move produces. The
 * one thing a count cannot tell apart is a source that really holds the same row twice: so when
 * the shortfall is made only of such repeats, the page each first copy came from is fetched again
 * (see `confirm`).
 */

export interface ListingCount {
  /** Records on the pages fetched, as they arrived (with or without a usable id). */
  received: number;
  /** Different records among them, by their text. */
  distinct: number;
  /** Copies of a record already seen on an earlier page (the signature of a listing that moved). */
  repeatedAcrossPages: number;
  /** The pages that held the first copy of each such record, ascending. */
  firstCopyPages: number[];
  /** The largest `total` any page announced (undefined: the source never said). */
  announced?: number;
  /** Pages disagreed about `total`: the listing changed during the run. */
  totalChanged: boolean;
}

export type ListingVerdict =
  /** `duplicateRows`: rows the source was found to hold twice (its pages fetched again, unchanged); 0 when there was no need to look. */
  | { complete: true; count: ListingCount; duplicateRows: number }
  | { complete: false; count: ListingCount; reason: string };

/** A record's identity for counting: its JSON text. The same source serializes the same record the same way. */
export function recordText(item: unknown, fallback: string): string {
  try {
    return JSON.stringify(item) ?? fallback;
  } catch {
    // Too deep (or otherwise unprintable) to compare: counted as a record of its own.
    return fallback;
  }
}

export function countListing(pages: ReadonlyMap<number, ReqresPage>): ListingCount {
  const firstPageOf = new Map<string, number>();
  const firstCopyPages = new Set<number>();
  const totals = new Set<number>();
  let received = 0;
  let repeatedAcrossPages = 0;
  for (const [page, body] of [...pages].sort(([a], [b]) => a - b)) {
    if (body.total !== undefined) totals.add(body.total);
    body.data.forEach((item, index) => {
      received += 1;
      const text = recordText(item, `\0unprintable ${page}:${index}`);
      const first = firstPageOf.get(text);
      if (first === undefined) firstPageOf.set(text, page);
      else if (first !== page) {
        repeatedAcrossPages += 1;
        firstCopyPages.add(first);
      }
    });
  }
  return {
    received,
    distinct: firstPageOf.size,
    repeatedAcrossPages,
    firstCopyPages: [...firstCopyPages].sort((a, b) => a - b),
    announced: totals.size > 0 ? Math.max(...totals) : undefined,
    totalChanged: totals.size > 1,
  };
}

/**
 * Complete when at least as many different records arrived as the source announced. The largest
 * `total` of the run is the bar: when it changed mid-run (records added or deleted between two
 * requests), a record the source held at some point of the run and that never arrived makes the
 * export incomplete, and the next run (on a listing at rest) gets it. That can refuse a run whose
 * deletions only touched pages not yet fetched; a rerun costs less than an export that silently
 * misses customers.
 *
 * `refetch` fetches one page again (through the same engine: rate slot, retries).
 */
export async function checkListing(pages: ReadonlyMap<number, ReqresPage>, refetch: (page: number) => Promise<ReqresPage>): Promise<ListingVerdict> {
  const count = countListing(pages);
  const { announced, distinct, received } = count;
  if (announced === undefined || distinct >= announced) return { complete: true, count, duplicateRows: 0 };
  const shortfall = `it announced ${counted(announced, 'user')}${count.totalChanged ? ' (its total changed during the run)' : ''}, ${distinct} different ones arrived`;
  if (count.repeatedAcrossPages === 0) {
    // Repeats within a page cannot come from a move; the rest simply never arrived.
    return { complete: false, count, reason: shortfall };
  }
  const seenAgain = `${shortfall} (${count.repeatedAcrossPages} seen again on a later page)`;
  // Repeats that a stable source explains (it holds those rows twice) only if they make up the whole
  // shortfall and nothing else moved.
  if (count.totalChanged || received < announced) return { complete: false, count, reason: seenAgain };
  const moved = await confirm(pages, count.firstCopyPages, refetch);
  if (moved === undefined) return { complete: true, count, duplicateRows: received - distinct };
  return { complete: false, count, reason: `${seenAgain}${moved}` };
}

/**
 * A moved listing no longer shows what it showed: the page that held the first copy of a repeated
 * record, fetched again, holds other records (that record has slid onto the next page). A source
 * that holds the same row twice answers the same page again. Pages are compared whole, by text:
 * any change means the run's pages came from different moments (a record edited meanwhile too),
 * and a rerun is the safe answer. Stops at the first page that changed.
 * Returns undefined when every page was the same, else what to add to the reason.
 */
async function confirm(pages: ReadonlyMap<number, ReqresPage>, candidates: readonly number[], refetch: (page: number) => Promise<ReqresPage>): Promise<string | undefined> {
  for (const page of candidates) {
    let again: ReqresPage;
    try {
      again = await refetch(page);
    } catch (caught) {
      const error = toSyncError(caught);
      if (error instanceof InterruptedError || error instanceof AuthError) throw error;
      return `, and page ${page} could not be fetched again to tell a moved listing from rows the source holds twice (${error.message})`;
    }
    if (!samePage(pages.get(page)!, again)) return '';
  }
  return undefined;
}

function samePage(a: ReqresPage, b: ReqresPage): boolean {
  if (a.data.length !== b.data.length) return false;
  return a.data.every((item, index) => recordText(item, '\0a') === recordText(b.data[index], '\0b'));
}
