/**
 * The contact properties the HubSpot mock knows, in the shape of HubSpot's CRM properties API
 * (`GET /crm/v3/properties/contacts` → `{results: Property[]}`), and the checks HubSpot applies to a
 * value written to one. Names, labels, types and field types of the defaults are HubSpot's own;
 * `hs_language` carries a subset of HubSpot's language codes.
 */

export interface PropertyOption {
  label: string;
  value: string;
  description?: string;
  displayOrder: number;
  hidden: boolean;
}

/** HubSpot's `Property` (crm/properties), the fields the mock fills. */
export interface HubspotProperty {
  name: string;
  label: string;
  type: 'string' | 'number' | 'date' | 'datetime' | 'enumeration' | 'bool';
  fieldType: 'text' | 'textarea' | 'phonenumber' | 'number' | 'date' | 'select' | 'radio' | 'checkbox' | 'booleancheckbox';
  groupName: string;
  description: string;
  options: PropertyOption[];
  displayOrder: number;
  hasUniqueValue: boolean;
  hidden: boolean;
  formField: boolean;
  hubspotDefined?: boolean;
  calculated: boolean;
  externalOptions: boolean;
  archived: boolean;
  createdAt?: string;
  updatedAt?: string;
  modificationMetadata: { archivable: boolean; readOnlyDefinition: boolean; readOnlyOptions?: boolean; readOnlyValue: boolean };
}

/** A property added to the defaults: `--property NAME[:TYPE[:a,b,c]]`, or the `properties` option. */
export interface CustomPropertySpec {
  name: string;
  type?: CustomPropertyType;
  /** Allowed values of an `enumeration` or `checkbox` property. */
  options?: readonly string[];
  /** Its value cannot be written (HubSpot's `modificationMetadata.readOnlyValue`). */
  readOnly?: boolean;
}

export const CUSTOM_PROPERTY_TYPES = ['string', 'number', 'date', 'datetime', 'bool', 'enumeration', 'checkbox'] as const;
export type CustomPropertyType = (typeof CUSTOM_PROPERTY_TYPES)[number];

/** One entry of the array HubSpot embeds in "Property values were not valid: […]". */
export interface PropertyProblem {
  error: string;
  name: string;
  message: string;
}

const options = (pairs: ReadonlyArray<readonly [string, string]>): PropertyOption[] =>
  pairs.map(([value, label], displayOrder) => ({ label, value, displayOrder, hidden: false }));

const BOOL_OPTIONS = options([
  ['true', 'Yes'],
  ['false', 'No'],
]);

// HubSpot's default lifecycle stages (internal value, label).
const LIFECYCLE_STAGES = options([
  ['subscriber', 'Subscriber'],
  ['lead', 'Lead'],
  ['marketingqualifiedlead', 'Marketing Qualified Lead'],
  ['salesqualifiedlead', 'Sales Qualified Lead'],
  ['opportunity', 'Opportunity'],
  ['customer', 'Customer'],
  ['evangelist', 'Evangelist'],
  ['other', 'Other'],
]);

const LEAD_STATUSES = options([
  ['NEW', 'New'],
  ['OPEN', 'Open'],
  ['IN_PROGRESS', 'In Progress'],
  ['OPEN_DEAL', 'Open Deal'],
  ['UNQUALIFIED', 'Unqualified'],
  ['ATTEMPTED_TO_CONTACT', 'Attempted to Contact'],
  ['CONNECTED', 'Connected'],
  ['BAD_TIMING', 'Bad Timing'],
]);

// A subset of HubSpot's `hs_language` codes (HubSpot lists many more).
const LANGUAGES = options([
  ['ar', 'Arabic'],
  ['zh-cn', 'Chinese - Simplified'],
  ['zh-tw', 'Chinese - Traditional'],
  ['cs', 'Czech'],
  ['da', 'Danish'],
  ['nl', 'Dutch'],
  ['en', 'English'],
  ['en-gb', 'English - United Kingdom'],
  ['en-us', 'English - United States'],
  ['fi', 'Finnish'],
  ['fr', 'French'],
  ['fr-ca', 'French - Canada'],
  ['de', 'German'],
  ['el', 'Greek'],
  ['he', 'Hebrew'],
  ['hi', 'Hindi'],
  ['hu', 'Hungarian'],
  ['id', 'Indonesian'],
  ['it', 'Italian'],
  ['ja', 'Japanese'],
  ['ko', 'Korean'],
  ['no', 'Norwegian'],
  ['pl', 'Polish'],
  ['pt', 'Portuguese'],
  ['pt-br', 'Portuguese - Brazil'],
  ['ro', 'Romanian'],
  ['ru', 'Russian'],
  ['es', 'Spanish'],
  ['es-mx', 'Spanish - Mexico'],
  ['sv', 'Swedish'],
  ['th', 'Thai'],
  ['tr', 'Turkish'],
  ['uk', 'Ukrainian'],
  ['vi', 'Vietnamese'],
]);

type DefaultRow = readonly [name: string, label: string, type: HubspotProperty['type'], fieldType: HubspotProperty['fieldType'], extra?: Partial<HubspotProperty>];

const READ_ONLY = { modificationMetadata: { archivable: false, readOnlyDefinition: true, readOnlyValue: true } };

const DEFAULT_ROWS: readonly DefaultRow[] = [
  ['email', 'Email', 'string', 'text'],
  ['firstname', 'First Name', 'string', 'text'],
  ['lastname', 'Last Name', 'string', 'text'],
  ['phone', 'Phone Number', 'string', 'phonenumber'],
  ['mobilephone', 'Mobile Phone Number', 'string', 'phonenumber'],
  ['company', 'Company Name', 'string', 'text'],
  ['website', 'Website URL', 'string', 'text'],
  ['jobtitle', 'Job Title', 'string', 'text'],
  ['address', 'Street Address', 'string', 'text'],
  ['city', 'City', 'string', 'text'],
  ['state', 'State/Region', 'string', 'text'],
  ['zip', 'Postal Code', 'string', 'text'],
  ['country', 'Country/Region', 'string', 'text'],
  ['lifecyclestage', 'Lifecycle Stage', 'enumeration', 'radio', { options: LIFECYCLE_STAGES }],
  ['hs_lead_status', 'Lead Status', 'enumeration', 'radio', { options: LEAD_STATUSES }],
  ['hs_language', 'Preferred language', 'enumeration', 'select', { options: LANGUAGES }],
  ['createdate', 'Create Date', 'datetime', 'date', READ_ONLY],
  ['lastmodifieddate', 'Last Modified Date', 'datetime', 'date', READ_ONLY],
  ['hs_object_id', 'Record ID', 'number', 'number', READ_ONLY],
];

/** HubSpot's standard contact properties that matter to a sync. */
export function defaultContactProperties(): HubspotProperty[] {
  return DEFAULT_ROWS.map(([name, label, type, fieldType, extra], displayOrder) => ({
    name,
    label,
    type,
    fieldType,
    groupName: 'contactinformation',
    description: '',
    options: [],
    displayOrder,
    hasUniqueValue: false,
    hidden: false,
    formField: !extra?.modificationMetadata,
    hubspotDefined: true,
    calculated: false,
    externalOptions: false,
    archived: false,
    modificationMetadata: { archivable: false, readOnlyDefinition: true, readOnlyValue: false },
    ...extra,
  }));
}

const FIELD_TYPES: Record<CustomPropertyType, readonly [HubspotProperty['type'], HubspotProperty['fieldType']]> = {
  string: ['string', 'text'],
  number: ['number', 'number'],
  date: ['date', 'date'],
  datetime: ['datetime', 'date'],
  bool: ['bool', 'booleancheckbox'],
  enumeration: ['enumeration', 'select'],
  checkbox: ['enumeration', 'checkbox'],
};

const PROPERTY_NAME = /^[a-z][a-z0-9_]{0,99}$/;

/** Why a custom property cannot be defined, or undefined. */
export function customPropertyProblem(spec: CustomPropertySpec, taken: ReadonlySet<string>): string | undefined {
  const type = spec.type ?? 'string';
  if (!PROPERTY_NAME.test(spec.name)) return `"${spec.name}": a property name is lower-case letters, digits and _ (starting with a letter), at most 100 characters`;
  if (taken.has(spec.name)) return `"${spec.name}" is already defined`;
  if (!CUSTOM_PROPERTY_TYPES.includes(type)) return `"${spec.name}": unknown type "${type}" (expected ${CUSTOM_PROPERTY_TYPES.join(', ')})`;
  const enumerated = type === 'enumeration' || type === 'checkbox';
  if (enumerated && (spec.options ?? []).length === 0) return `"${spec.name}": a ${type} property needs its options (${spec.name}:${type}:a,b,c)`;
  if (!enumerated && spec.options !== undefined) return `"${spec.name}": only enumeration and checkbox properties take options`;
  if (enumerated && spec.options!.some((option) => option === '' || option.includes(';'))) return `"${spec.name}": an option is not empty and holds no ";"`;
  return undefined;
}

/** `NAME`, `NAME:TYPE` or `NAME:enumeration|checkbox:a,b,c` → a spec; throws with the reason. */
export function parsePropertySpec(text: string): CustomPropertySpec {
  const [name = '', type, list, ...rest] = text.split(':');
  if (rest.length > 0) throw new Error(`"${text}": expected NAME[:TYPE[:a,b,c]]`);
  const spec: CustomPropertySpec = { name, type: (type || 'string') as CustomPropertyType, options: list === undefined ? undefined : list.split(',') };
  const problem = customPropertyProblem(spec, new Set());
  if (problem) throw new Error(problem);
  return spec;
}

export function customProperty(spec: CustomPropertySpec, createdAt: string, displayOrder: number): HubspotProperty {
  const [type, fieldType] = FIELD_TYPES[spec.type ?? 'string'];
  return {
    name: spec.name,
    label: spec.name,
    type,
    fieldType,
    groupName: 'contactinformation',
    description: '',
    options: type === 'bool' ? BOOL_OPTIONS : options((spec.options ?? []).map((value) => [value, value] as const)),
    displayOrder,
    hasUniqueValue: false,
    hidden: false,
    formField: true,
    calculated: false,
    externalOptions: false,
    archived: false,
    createdAt,
    updatedAt: createdAt,
    modificationMetadata: { archivable: true, readOnlyDefinition: false, readOnlyValue: spec.readOnly ?? false },
  };
}

/**
 * HubSpot's address rule (its docs: RFC 2822, no quoted local part, a domain ending in a known
 * top-level domain, Unicode domains allowed). The local part is an RFC 2822 dot-atom; the list of
 * top-level domains is approximated by "two or more letters, or an IDN A-label".
 */
const LOCAL_PART = /^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*$/;
const DOMAIN_LABEL = /^(?!-)[\p{L}\p{N}-]{1,63}(?<!-)$/u;
const TOP_LEVEL = /^(?:\p{L}{2,}|xn--[a-z0-9-]+)$/iu;

export function isHubspotEmail(value: string): boolean {
  const at = value.lastIndexOf('@');
  if (at <= 0 || value.length > 254) return false;
  const labels = value.slice(at + 1).split('.');
  return LOCAL_PART.test(value.slice(0, at)) && at <= 64 && labels.length >= 2 && labels.every((label) => DOMAIN_LABEL.test(label)) && TOP_LEVEL.test(labels.at(-1)!);
}

const NUMBER = /^-?(?:\d+\.?\d*|\.\d+)$/;
const DATE = /^\d{4}-\d{2}-\d{2}$/;
const DATETIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:?\d{2})$/;
const EPOCH_MS = /^-?\d{1,15}$/;
const DAY_MS = 86_400_000;

/**
 * What HubSpot refuses in a value written to `property`, or undefined. An empty string always
 * passes: it clears the value. Codes and messages are HubSpot's where known (PROPERTY_DOESNT_EXIST,
 * INVALID_OPTION, INVALID_EMAIL, LEADING_TRAILING_WHITESPACE); READ_ONLY_VALUE, INVALID_NUMBER,
 * INVALID_BOOLEAN and INVALID_DATE are the mock's names for refusals HubSpot documents without a code.
 */
export function valueProblem(property: HubspotProperty, value: string): PropertyProblem | undefined {
  const name = property.name;
  const problem = (error: string, message: string): PropertyProblem => ({ error, name, message });
  if (property.modificationMetadata.readOnlyValue) return problem('READ_ONLY_VALUE', `"${name}" is a read only property; its value cannot be set.`);
  if (value === '') return undefined;
  if (property.type !== 'string' && value !== value.trim()) return problem('LEADING_TRAILING_WHITESPACE', `"${value}" includes leading or trailing whitespace.`);
  switch (property.type) {
    case 'number':
      return NUMBER.test(value) ? undefined : problem('INVALID_NUMBER', `"${value}" is not a valid number (no commas, at most one period).`);
    case 'bool':
      return value === 'true' || value === 'false' ? undefined : problem('INVALID_BOOLEAN', `"${value}" is not a valid boolean (true or false).`);
    case 'date':
      return isDate(value) ? undefined : problem('INVALID_DATE', `"${value}" is not a valid date (YYYY-MM-DD, or epoch milliseconds at midnight UTC).`);
    case 'datetime':
      return EPOCH_MS.test(value) || (DATETIME.test(value) && !Number.isNaN(Date.parse(value))) ? undefined : problem('INVALID_DATE', `"${value}" is not a valid datetime (ISO 8601 or epoch milliseconds).`);
    case 'enumeration':
      return optionProblem(property, value);
    default:
      if (name === 'email' && !isHubspotEmail(value)) return problem('INVALID_EMAIL', `Email address ${value} is invalid`);
      return undefined;
  }
}

function isDate(value: string): boolean {
  if (EPOCH_MS.test(value)) return Number(value) % DAY_MS === 0;
  return DATE.test(value) && new Date(`${value}T00:00:00Z`).toISOString().startsWith(value);
}

/** Each `;`-separated part of a multiple-checkbox value, or the whole value, must be an option. */
function optionProblem(property: HubspotProperty, value: string): PropertyProblem | undefined {
  // Properties whose options live elsewhere (owners, pipelines) are not checked by HubSpot either.
  if (property.externalOptions || property.options.length === 0) return undefined;
  const allowed = property.options.map((option) => option.value);
  const parts = property.fieldType === 'checkbox' ? value.split(';') : [value];
  const wrong = parts.find((part) => !allowed.includes(part));
  if (wrong === undefined) return undefined;
  return { error: 'INVALID_OPTION', name: property.name, message: `${wrong} was not one of the allowed options: [${allowed.join(', ')}]` };
}
