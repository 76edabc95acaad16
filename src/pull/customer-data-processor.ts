import { normalizeName } from '../normalize/name.js';
import {
  acquisitionChannel,
  activity,
  customerTier,
  emailDomain,
  engagement,
  marketSegment,
  PENALTY,
  text,
} from './enrichment.js';
import type { Customer, RawUser } from './schemas.js';

export interface ProcessorOptions {
  seed: number;
  /** Reference time for "active within 30 days"; injectable for tests. */
  now: number;
}

/**
 * What pull knows of a customer besides the export's fields: how to reach them. Kept beside the
 * customer, never in it, because the export's keys are the contract's and it names only the
 * address's domain; `--profiles` needs the address itself.
 */
export interface Contact {
  /** The address as push sends it (trimmed, lower-cased); absent when missing or not valid. */
  email?: string;
  /** Normalized; '' when the source had none. `full_name` is these two joined. */
  firstName: string;
  lastName: string;
}

export interface CustomerRecord {
  customer: Customer;
  contact: Contact;
}

export interface ProcessResult {
  /** Deduplicated and sorted like the export; `customers` is their `customer` parts. */
  records: CustomerRecord[];
  customers: Customer[];
  duplicatesRemoved: number;
}

/** Turns raw reqres users into scored, enriched, deduplicated, sorted customers. */
export class CustomerDataProcessor {
  private readonly seed: number;
  private readonly now: number;

  constructor({ seed, now }: ProcessorOptions) {
    this.seed = seed;
    this.now = now;
  }

  /** One raw user → one customer, with a quality score of 100 minus 10 per missing or broken signal. */
  transform(raw: RawUser): Customer {
    return this.enrich(raw).customer;
  }

  /** One raw user → its customer and its contact (the address the export leaves out). */
  enrich(raw: RawUser): CustomerRecord {
    const { id } = raw;
    const firstName = normalizeName(text(raw.first_name));
    const lastName = normalizeName(text(raw.last_name));
    const email = emailDomain(text(raw.email));
    const engaged = engagement(raw, this.seed, id);
    const active = activity(raw, this.seed, id, this.now);

    const penalties = [
      email.missing,
      email.broken,
      firstName === '',
      lastName === '',
      text(raw.avatar) === '',
      engaged.broken,
      active.broken,
    ].filter(Boolean).length;

    const customer: Customer = {
      customer_id: id,
      full_name: [firstName, lastName].filter(Boolean).join(' '),
      email_domain: email.value,
      engagement_level: engaged.value,
      activity_status: active.value,
      acquisition_channel: acquisitionChannel(this.seed, id),
      market_segment: marketSegment(email.value, this.seed, id),
      customer_tier: customerTier(engaged.value, this.seed, id),
      data_quality_score: Math.max(0, 100 - PENALTY * penalties),
    };
    return { customer, contact: { email: email.address, firstName, lastName } };
  }

  /** By id, keeping the highest score; on a tie the first seen stays. The contact goes with its customer. */
  dedupe(records: readonly CustomerRecord[]): { records: CustomerRecord[]; duplicatesRemoved: number } {
    const best = new Map<number, CustomerRecord>();
    for (const record of records) {
      const kept = best.get(record.customer.customer_id);
      if (!kept || record.customer.data_quality_score > kept.customer.data_quality_score) best.set(record.customer.customer_id, record);
    }
    return { records: [...best.values()], duplicatesRemoved: records.length - best.size };
  }

  /** The whole pipeline, in source order (page, then position) so "first seen" is well defined. */
  process(raws: readonly RawUser[]): ProcessResult {
    const { records, duplicatesRemoved } = this.dedupe(raws.map((raw) => this.enrich(raw)));
    records.sort((a, b) => byName(a.customer, b.customer));
    return { records, customers: records.map((record) => record.customer), duplicatesRemoved };
  }
}

/**
 * Pinned to English rules, created once: a bare `localeCompare` follows the process's LANG, and
 * Swedish puts "Ångström" after "Zeta", so two hosts exported the same data in different orders.
 */
// The pin is tested by spawning the built CLI code under LANG=sv_SE (test/pull/customer-data-processor
// test, "export order"): the locale is fixed at process start, and Stryker's mutants live in src/, not dist/.
// Stryker disable next-line StringLiteral: killed only in a process started with another locale (see above)
const NAME_ORDER = new Intl.Collator('en');

export function byName(a: Customer, b: Customer): number {
  return NAME_ORDER.compare(a.full_name, b.full_name) || a.customer_id - b.customer_id;
}
