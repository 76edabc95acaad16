import { z } from 'zod';

/**
 * The reqres page envelope. Users are kept loose on purpose: a record with a missing or broken
 * field is still a customer, just a lower-quality one, so the processor scores rather than rejects.
 * Only `id` is required, because deduplication and enrichment hang on it.
 */
export const RawUserSchema = z.looseObject({
  id: z.union([z.number().int().positive(), z.string().regex(/^\d+$/).transform(Number)]),
});
export type RawUser = z.infer<typeof RawUserSchema>;

export const ReqresPageSchema = z.looseObject({
  page: z.coerce.number().int().positive(),
  total: z.coerce.number().int().nonnegative().optional(),
  total_pages: z.coerce.number().int().nonnegative(),
  data: z.array(z.unknown()),
});
export type ReqresPage = z.infer<typeof ReqresPageSchema>;

export const EngagementLevel = z.enum(['high', 'medium', 'low', 'unknown']);
export const ActivityStatus = z.enum(['active', 'inactive', 'unknown']);
export const AcquisitionChannel = z.enum(['website', 'mobile_app', 'email_campaign']);
export const MarketSegment = z.enum(['US-West', 'US-East', 'EU-Central', 'APAC']);
export const CustomerTier = z.enum(['basic', 'premium', 'enterprise']);

export const CustomerSchema = z.strictObject({
  customer_id: z.number().int().positive(),
  full_name: z.string(),
  email_domain: z.string(),
  engagement_level: EngagementLevel,
  activity_status: ActivityStatus,
  acquisition_channel: AcquisitionChannel,
  market_segment: MarketSegment,
  customer_tier: CustomerTier,
  data_quality_score: z.number().int().min(0).max(100),
});
export type Customer = z.infer<typeof CustomerSchema>;

/**
 * A line of `sync pull --profiles`: a profile as `sync push` takes it, with the enrichment in
 * `metadata` (so `--map metadata.customer_tier=…` can send it to a platform). The address is the
 * one the source gave, as push sends it; the names are the export's `full_name` parts.
 */
export const PulledProfileSchema = z.strictObject({
  email: z.string(),
  firstName: z.string(),
  lastName: z.string(),
  metadata: CustomerSchema.pick({
    customer_id: true,
    engagement_level: true,
    activity_status: true,
    acquisition_channel: true,
    market_segment: true,
    customer_tier: true,
    data_quality_score: true,
  }),
});
export type PulledProfile = z.infer<typeof PulledProfileSchema>;

export const QualitySummarySchema = z.strictObject({
  high_quality: z.number().int().nonnegative(),
  medium_quality: z.number().int().nonnegative(),
  low_quality: z.number().int().nonnegative(),
});
export type QualitySummary = z.infer<typeof QualitySummarySchema>;

/** The export file. `metadata` may grow; the keys listed here are the contract. */
export const ExportDocumentSchema = z.strictObject({
  metadata: z.looseObject({
    total_customers: z.number().int().nonnegative(),
    export_timestamp: z.iso.datetime(),
    data_quality_summary: QualitySummarySchema,
  }),
  customers: z.array(CustomerSchema),
});
export type ExportDocument = z.infer<typeof ExportDocumentSchema>;
