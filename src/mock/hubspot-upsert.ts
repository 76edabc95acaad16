import { z } from 'zod';
import { SUPPRESSED_DOMAIN } from './downstream-server.js';
import { isHubspotEmail, valueProblem, type HubspotProperty, type PropertyProblem } from './hubspot-properties.js';

/**
 * The body of HubSpot's batch contact upsert, read and checked the way HubSpot does: the JSON, its
 * shape, the batch limits, then each input's properties. Pure functions; the server holds the state.
 */

export const MAX_INPUTS = 100;

const UpsertInputSchema = z.object({
  id: z.string(),
  idProperty: z.string().optional(),
  objectWriteTraceId: z.string().optional(),
  // Checked entry by entry below: a record schema would silently drop a `__proto__` key.
  properties: z.custom<Record<string, unknown>>((value) => typeof value === 'object' && value !== null && !Array.isArray(value), 'expected an object'),
});
const UpsertBodySchema = z.object({ inputs: z.array(UpsertInputSchema) });

export type UpsertInput = Omit<z.infer<typeof UpsertInputSchema>, 'properties'> & { properties: Map<string, string> };

/** A refusal of the whole request: HubSpot's Error body without its correlationId. */
export interface RequestProblem {
  message: string;
  category: 'VALIDATION_ERROR';
  context?: Record<string, string[]>;
  errors?: ErrorDetail[];
}

export interface ErrorDetail {
  message: string;
  code: string;
  context: { propertyName: string[] };
}

/** Where a JSON.parse error is, as HubSpot reports it ("on line 3, column 9"), when Node says. */
function jsonProblem(text: string, error: Error): string {
  // Node's own wording, without the input it quotes or the offset given as line and column instead.
  const reason = /^(Unexpected token '.+?'),/.exec(error.message)?.[1] ?? error.message.replace(/ in JSON at position \d+.*$/, '');
  const position = /at position (\d+)/.exec(error.message)?.[1];
  const at = position !== undefined ? Number(position) : /end of JSON input/.test(error.message) ? text.length : undefined;
  if (at === undefined) return `Invalid input JSON: ${reason}`;
  const before = text.slice(0, at).split('\n');
  return `Invalid input JSON on line ${before.length}, column ${before.at(-1)!.length + 1}: ${reason}`;
}

const pathText = (path: readonly PropertyKey[]): string => path.map((part) => (typeof part === 'number' ? `[${part}]` : `.${String(part)}`)).join('').replace(/^\./, '');

/**
 * Property values are strings in HubSpot's schema; a JSON number or boolean is taken as its text
 * (`17` → `"17"`, `true` → `"true"`), as HubSpot's JSON reader does. Anything else (null, an object,
 * an array) cannot be read as a string: the whole request is refused.
 */
function propertyValues(raw: Record<string, unknown>, index: number): Map<string, string> | RequestProblem {
  const values = new Map<string, string>();
  for (const [name, value] of Object.entries(raw)) {
    if (typeof value === 'string') values.set(name, value);
    else if (typeof value === 'number' || typeof value === 'boolean') values.set(name, String(value));
    else return invalid(`Invalid input JSON: inputs[${index}].properties.${name}: expected a string, got ${value === null ? 'null' : Array.isArray(value) ? 'an array' : 'an object'}`);
  }
  return values;
}

const invalid = (message: string, context?: Record<string, string[]>): RequestProblem => ({ message, category: 'VALIDATION_ERROR', ...(context ? { context } : {}) });

/** The request's inputs, or why the whole request is refused (400). */
export function readUpsertBody(text: string): UpsertInput[] | RequestProblem {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    return invalid(jsonProblem(text, error as Error));
  }
  const parsed = UpsertBodySchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    return invalid(`Invalid input JSON: ${pathText(issue.path) || 'body'}: ${issue.message}`);
  }
  const inputs: UpsertInput[] = [];
  for (const [index, input] of parsed.data.inputs.entries()) {
    const properties = propertyValues(input.properties, index);
    if (!(properties instanceof Map)) return properties;
    inputs.push({ ...input, properties });
  }
  return batchProblem(inputs) ?? inputs;
}

/** Limits on the batch as a whole: its size, unique ids, and contacts keyed by email. */
function batchProblem(inputs: readonly UpsertInput[]): RequestProblem | undefined {
  if (inputs.length > MAX_INPUTS) {
    return invalid(`The maximum number of inputs supported in a batch is ${MAX_INPUTS}. Please reduce the number of items and try again`);
  }
  // One contact per email, whatever its case: two spellings of one address are the same id.
  const seen = new Set<string>();
  const duplicates = new Set<string>();
  for (const input of inputs) {
    const key = input.id.toLowerCase();
    if (seen.has(key)) duplicates.add(input.id);
    seen.add(key);
  }
  if (duplicates.size > 0) return invalid(`Duplicate IDs found in batch input: [${[...duplicates].join(', ')}]. IDs must be unique`, { ids: [...duplicates] });
  const other = inputs.find((input) => input.idProperty !== 'email');
  if (other) {
    return invalid(`idProperty ${other.idProperty === undefined ? 'is missing' : `"${other.idProperty}" is not supported`}: this mock upserts contacts by email only (idProperty "email")`);
  }
  return undefined;
}

/** What is wrong with one input: its id as an address, then each property it writes. */
export function inputProblems(input: UpsertInput, catalogue: ReadonlyMap<string, HubspotProperty>): PropertyProblem[] {
  const problems: PropertyProblem[] = [];
  const email = input.id.toLowerCase();
  if (!isHubspotEmail(input.id)) problems.push({ error: 'INVALID_EMAIL', name: 'email', message: `Email address ${input.id} is invalid` });
  else if (email.endsWith(`@${SUPPRESSED_DOMAIN}`)) problems.push({ error: 'BLOCKED_EMAIL', name: 'email', message: `Email address ${input.id} is blocked` });
  for (const [name, value] of input.properties) {
    const property = catalogue.get(name);
    if (!property) {
      problems.push({ error: 'PROPERTY_DOESNT_EXIST', name, message: `Property "${name}" does not exist` });
    } else if (name === 'email') {
      if (value.toLowerCase() !== email) problems.push({ error: 'EMAIL_ID_MISMATCH', name, message: `Property "email" (${value}) must be the id (${input.id}) when idProperty is email` });
    } else {
      const problem = valueProblem(property, value);
      if (problem) problems.push(problem);
    }
  }
  return problems;
}

/** HubSpot's message for refused values: the list of per-property results, as JSON text. */
export function propertyValuesMessage(problems: readonly PropertyProblem[], portalId: number): string {
  const results = problems.map(({ error, name, message }) => ({ isValid: false, message, error, name, localizedErrorMessage: message, portalId }));
  return `Property values were not valid: ${JSON.stringify(results)}`;
}

export function errorDetails(problems: readonly PropertyProblem[]): ErrorDetail[] {
  return problems.map(({ error, name, message }) => ({ message, code: error, context: { propertyName: [name] } }));
}
