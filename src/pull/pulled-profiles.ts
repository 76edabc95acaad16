import type { CustomerRecord } from './customer-data-processor.js';
import type { PulledProfile } from './schemas.js';

export interface PulledProfiles {
  /** One per customer with a valid address, in the export's order. */
  profiles: PulledProfile[];
  /** Customers not written: no address, or one push would refuse. */
  withoutEmail: number[];
}

/**
 * The export's customers as `sync push` takes them (`--profiles`). A customer without a valid
 * address is left out: a platform keys contacts by address, so there is nothing to send it as; it
 * is counted (`metadata.profiles_without_email`) and logged by id, and stays in the export.
 *
 * A customer with an address but a missing name is written as it is (`"firstName": ""`), not
 * left out: push, which requires both names, then refuses it with the reason (`firstName: must
 * not be empty`) and keeps it in its dead-letter file, and the run ends with exit 3. Leaving it
 * out here would lose it silently: pull's log is not where anyone looks for undelivered
 * contacts, the dead-letter file is. Pull does not judge names beyond normalizing them; push's
 * validation is the one rule for what may be sent.
 */
export function toProfiles(records: readonly CustomerRecord[]): PulledProfiles {
  const profiles: PulledProfile[] = [];
  const withoutEmail: number[] = [];
  for (const { customer, contact } of records) {
    if (contact.email === undefined) {
      withoutEmail.push(customer.customer_id);
      continue;
    }
    profiles.push({
      email: contact.email,
      firstName: contact.firstName,
      lastName: contact.lastName,
      metadata: {
        customer_id: customer.customer_id,
        engagement_level: customer.engagement_level,
        activity_status: customer.activity_status,
        acquisition_channel: customer.acquisition_channel,
        market_segment: customer.market_segment,
        customer_tier: customer.customer_tier,
        data_quality_score: customer.data_quality_score,
      },
    });
  }
  return { profiles, withoutEmail };
}

/** NDJSON: one profile a line, each line ended (an empty list is an empty file). */
export function profilesText(profiles: readonly PulledProfile[]): string {
  return profiles.map((profile) => `${JSON.stringify(profile)}\n`).join('');
}
