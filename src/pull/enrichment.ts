import { createHash } from 'node:crypto';
import { EmailSchema } from '../profiles/schemas.js';
import {
  AcquisitionChannel,
  CustomerTier,
  MarketSegment,
  type Customer,
} from './schemas.js';

/**
 * Enrichment and quality scoring as pure functions of (record, seed, now). Real signals in the
 * record win; where the source has none, a field is drawn from a hash of (seed, id, field name),
 * never Math.random, so consecutive exports of the same data agree.
 */

type EngagementLevel = Customer['engagement_level'];
type ActivityStatus = Customer['activity_status'];

const DAY_MS = 86_400_000;
export const ACTIVE_WITHIN_MS = 30 * DAY_MS;
/** A last-activity date this far in the future is bad data, not a real login. */
const FUTURE_TOLERANCE_MS = DAY_MS;
export const PENALTY = 10;
const ACTIVITY_FIELDS = ['last_login', 'last_activity', 'last_seen'] as const;

/** Uniform number in [0, 1) from (seed, id, field): stable across runs and machines. */
export function stableFraction(seed: number, id: number, field: string): number {
  const digest = createHash('sha256').update(`${seed}:${id}:${field}`).digest();
  return digest.readUInt32BE(0) / 2 ** 32;
}

function pick<T>(options: readonly T[], fraction: number): T {
  // Stryker disable next-line ArithmeticOperator: equivalent; fraction < 1 keeps the index below length, the min is a guard
  return options[Math.min(options.length - 1, Math.floor(fraction * options.length))]!;
}

export function text(value: unknown): string {
  return typeof value === 'string' ? value.trim() : '';
}

export interface Signal<T> {
  value: T;
  /** True when the record carried the field but it was unusable (costs quality). */
  broken: boolean;
}

export function engagementLevelOf(score: number): Exclude<EngagementLevel, 'unknown'> {
  if (score >= 70) return 'high';
  if (score >= 40) return 'medium';
  return 'low';
}

/** `engagement_score`: number → band; null or non-numeric → unknown; absent → generated. */
export function engagement(raw: Record<string, unknown>, seed: number, id: number): Signal<EngagementLevel> {
  if (!('engagement_score' in raw)) {
    return { value: engagementLevelOf(Math.floor(stableFraction(seed, id, 'engagement_score') * 101)), broken: false };
  }
  const score = raw.engagement_score;
  const numeric = typeof score === 'string' && score.trim() !== '' ? Number(score) : score;
  // Stryker disable next-line ConditionalExpression: equivalent; Number.isFinite is false for every non-number
  if (typeof numeric !== 'number' || !Number.isFinite(numeric)) return { value: 'unknown', broken: true };
  return { value: engagementLevelOf(numeric), broken: false };
}

/** Last activity (`last_login` or an alias): within 30 days → active; unparseable → unknown; absent → generated. */
export function activity(raw: Record<string, unknown>, seed: number, id: number, now: number): Signal<ActivityStatus> {
  const field = ACTIVITY_FIELDS.find((name) => name in raw);
  if (!field) {
    // Stryker disable next-line EqualityOperator: < and <= differ only where the draw is exactly 0.65 (never, in practice)
    return { value: stableFraction(seed, id, 'activity') < 0.65 ? 'active' : 'inactive', broken: false };
  }
  const value = raw[field];
  // Only text is a date: Date.parse(2020) would read the number as a year.
  const isText = typeof value === 'string';
  // Stryker disable next-line ConditionalExpression,MethodExpression,StringLiteral: equivalent; Date.parse of a blank string is NaN too
  const time = isText && value.trim() !== '' ? Date.parse(value) : Number.NaN;
  if (Number.isNaN(time) || time > now + FUTURE_TOLERANCE_MS) return { value: 'unknown', broken: true };
  return { value: now - time <= ACTIVE_WITHIN_MS ? 'active' : 'inactive', broken: false };
}

/**
 * Domain of a valid address, lower-cased, and the address as push would send it; `unknown` for a
 * missing or malformed one. Valid is push's rule (EmailSchema): an internationalized domain is
 * valid (its ASCII form is the domain), so the customers with a known domain are exactly those
 * pull can write as profiles.
 */
export function emailDomain(email: string): Signal<string> & { missing: boolean; address?: string } {
  if (email === '') return { value: 'unknown', broken: false, missing: true };
  const parsed = EmailSchema.safeParse(email);
  if (!parsed.success) return { value: 'unknown', broken: true, missing: false };
  const address = parsed.data;
  return { value: address.slice(address.lastIndexOf('@') + 1), broken: false, missing: false, address };
}

const EU_TLDS = new Set(['de', 'fr', 'nl', 'be', 'at', 'ch', 'it', 'es', 'pl', 'cz', 'dk', 'se', 'no', 'fi', 'ie', 'pt', 'eu', 'uk']);
// `.in` is left out on purpose: the source's own domain (reqres.in) uses it with no regional meaning,
// as do many generic-looking ccTLDs (.io, .co, .ai).
const APAC_TLDS = new Set(['jp', 'cn', 'kr', 'sg', 'au', 'nz', 'hk', 'tw', 'my', 'th', 'vn', 'ph']);

/** A country-code domain is a real regional signal; otherwise the segment is generated. */
export function marketSegment(domain: string, seed: number, id: number): Customer['market_segment'] {
  const tld = domain.slice(domain.lastIndexOf('.') + 1);
  if (EU_TLDS.has(tld)) return 'EU-Central';
  if (APAC_TLDS.has(tld)) return 'APAC';
  return pick(MarketSegment.options, stableFraction(seed, id, 'market_segment'));
}

export function acquisitionChannel(seed: number, id: number): Customer['acquisition_channel'] {
  return pick(AcquisitionChannel.options, stableFraction(seed, id, 'acquisition_channel'));
}

/** Engaged customers are likelier to pay more: the draw's odds depend on the engagement band. */
const TIER_ODDS: Record<EngagementLevel, { enterprise: number; premium: number }> = {
  high: { enterprise: 0.3, premium: 0.8 },
  medium: { enterprise: 0.1, premium: 0.5 },
  low: { enterprise: 0.05, premium: 0.2 },
  unknown: { enterprise: 0.05, premium: 0.2 },
};

export function customerTier(level: EngagementLevel, seed: number, id: number): Customer['customer_tier'] {
  const draw = stableFraction(seed, id, 'customer_tier');
  const odds = TIER_ODDS[level];
  // Stryker disable next-line EqualityOperator: < and <= differ only where the draw equals the odds exactly
  if (draw < odds.enterprise) return CustomerTier.enum.enterprise;
  // Stryker disable next-line EqualityOperator: as above
  if (draw < odds.premium) return CustomerTier.enum.premium;
  return CustomerTier.enum.basic;
}

export function qualityBand(score: number): 'high_quality' | 'medium_quality' | 'low_quality' {
  if (score >= 90) return 'high_quality';
  if (score >= 70) return 'medium_quality';
  return 'low_quality';
}
