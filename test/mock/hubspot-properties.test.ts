import { describe, expect, it } from 'vitest';
import {
  customProperty,
  customPropertyProblem,
  defaultContactProperties,
  isHubspotEmail,
  parsePropertySpec,
  valueProblem,
  type CustomPropertySpec,
  type HubspotProperty,
} from '../../src/mock/hubspot-properties.js';

const defaults = new Map(defaultContactProperties().map((property) => [property.name, property]));
const custom = (spec: CustomPropertySpec): HubspotProperty => customProperty(spec, '2026-01-20T00:00:00.000Z', 99);
const codeOf = (property: HubspotProperty, value: string): string | undefined => valueProblem(property, value)?.error;

describe('HubSpot default contact properties', () => {
  it('holds the standard ones with HubSpot names, labels, types and field types', () => {
    expect(defaults.get('email')).toMatchObject({ label: 'Email', type: 'string', fieldType: 'text', hubspotDefined: true });
    expect(defaults.get('phone')).toMatchObject({ label: 'Phone Number', type: 'string', fieldType: 'phonenumber' });
    expect(defaults.get('lifecyclestage')).toMatchObject({ label: 'Lifecycle Stage', type: 'enumeration', fieldType: 'radio' });
    expect(defaults.get('lifecyclestage')!.options.map((option) => option.value)).toEqual([
      'subscriber',
      'lead',
      'marketingqualifiedlead',
      'salesqualifiedlead',
      'opportunity',
      'customer',
      'evangelist',
      'other',
    ]);
    expect(defaults.get('hs_language')).toMatchObject({ label: 'Preferred language', type: 'enumeration', fieldType: 'select' });
    for (const name of ['firstname', 'lastname', 'company', 'website']) expect(defaults.get(name)).toMatchObject({ type: 'string', fieldType: 'text' });
  });

  it('marks createdate, lastmodifieddate and hs_object_id read-only, and only them', () => {
    const readOnly = [...defaults.values()].filter((property) => property.modificationMetadata.readOnlyValue).map((property) => property.name);
    expect(readOnly).toEqual(['createdate', 'lastmodifieddate', 'hs_object_id']);
  });

  it('every property has the fields HubSpot marks required (name, label, type, fieldType, description, groupName, options)', () => {
    for (const property of defaults.values()) {
      expect(property).toEqual(expect.objectContaining({ name: expect.any(String), label: expect.any(String), description: '', groupName: 'contactinformation', options: expect.any(Array) }));
      for (const option of property.options) expect(option).toEqual({ label: expect.any(String), value: expect.any(String), displayOrder: expect.any(Number), hidden: false });
    }
  });
});

describe('custom properties', () => {
  it.each([
    ['plan', { name: 'plan', type: 'string', options: undefined }],
    ['score:number', { name: 'score', type: 'number', options: undefined }],
    ['plan:enumeration:free,pro', { name: 'plan', type: 'enumeration', options: ['free', 'pro'] }],
    ['tags:checkbox:a,b,c', { name: 'tags', type: 'checkbox', options: ['a', 'b', 'c'] }],
  ])('parses %s', (text, spec) => {
    expect(parsePropertySpec(text)).toEqual(spec);
  });

  it.each([
    ['Plan', /lower-case letters/],
    ['plan:colour', /unknown type "colour"/],
    ['tags:checkbox', /needs its options/],
    ['plan:string:a,b', /only enumeration and checkbox/],
    ['tags:checkbox:a,,b', /not empty/],
    ['a:b:c:d', /expected NAME\[:TYPE\[:a,b,c\]\]/],
  ])('refuses %s', (text, reason) => {
    expect(() => parsePropertySpec(text)).toThrow(reason);
  });

  it('refuses a name already defined', () => {
    expect(customPropertyProblem({ name: 'email' }, new Set(defaults.keys()))).toMatch(/"email" is already defined/);
  });

  it('maps each type onto HubSpot type and field type; bool carries the true/false options', () => {
    expect(custom({ name: 'a', type: 'checkbox', options: ['x'] })).toMatchObject({ type: 'enumeration', fieldType: 'checkbox', options: [{ value: 'x', label: 'x' }] });
    expect(custom({ name: 'a', type: 'enumeration', options: ['x'] })).toMatchObject({ type: 'enumeration', fieldType: 'select' });
    expect(custom({ name: 'a', type: 'bool' })).toMatchObject({ type: 'bool', fieldType: 'booleancheckbox', options: [{ value: 'true' }, { value: 'false' }] });
    expect(custom({ name: 'a', type: 'date' })).toMatchObject({ type: 'date', fieldType: 'date' });
    expect(custom({ name: 'a', readOnly: true }).modificationMetadata.readOnlyValue).toBe(true);
  });
});

describe('values HubSpot refuses', () => {
  const number = custom({ name: 'n', type: 'number' });
  const bool = custom({ name: 'b', type: 'bool' });
  const date = custom({ name: 'd', type: 'date' });
  const datetime = custom({ name: 't', type: 'datetime' });
  const tags = custom({ name: 'tags', type: 'checkbox', options: ['a', 'b', 'c'] });
  const stage = defaults.get('lifecyclestage')!;

  it.each([
    [number, '17', undefined],
    [number, '-0.5', undefined],
    [number, '1,000', 'INVALID_NUMBER'],
    [number, '1.2.3', 'INVALID_NUMBER'],
    [number, ' 5', 'LEADING_TRAILING_WHITESPACE'],
    [bool, 'true', undefined],
    [bool, 'yes', 'INVALID_BOOLEAN'],
    [date, '2026-01-20', undefined],
    [date, '1768867200000', undefined],
    [date, '1768867200001', 'INVALID_DATE'],
    [date, '2026-02-30', 'INVALID_DATE'],
    [datetime, '2026-01-20T15:30:00Z', undefined],
    [datetime, 'yesterday', 'INVALID_DATE'],
    [stage, 'customer', undefined],
    [stage, 'Customer', 'INVALID_OPTION'],
    [tags, 'a;c', undefined],
    [tags, 'a;d', 'INVALID_OPTION'],
    [defaults.get('createdate')!, '2026-01-20', 'READ_ONLY_VALUE'],
    [defaults.get('firstname')!, ' Ann ', undefined],
  ])('%# %s = %j → %s', (property, value, code) => {
    expect(codeOf(property, value)).toBe(code);
  });

  it('an empty string passes anywhere writable: it clears the value', () => {
    for (const property of [number, bool, date, tags, stage]) expect(valueProblem(property, '')).toBeUndefined();
  });

  it("words the option refusal as HubSpot does, naming the part that is not an option", () => {
    expect(valueProblem(tags, 'a;d')).toEqual({ error: 'INVALID_OPTION', name: 'tags', message: 'd was not one of the allowed options: [a, b, c]' });
  });

  it('skips the option check where the options live elsewhere', () => {
    expect(valueProblem({ ...stage, externalOptions: true }, 'anything')).toBeUndefined();
  });
});

describe('HubSpot address rule', () => {
  it.each(['ann@example.com', "o'neil+tag@mail.example.co.uk", 'user@email.삼성', 'a@xn--p1ai.xn--p1ai', 'first.last@bücher.de'])('accepts %s', (email) => {
    expect(isHubspotEmail(email)).toBe(true);
  });

  it.each(['', 'ann', '@example.com', 'ann@example', 'ann@example.c', '"Test Email"@hubspot.com', 'ann..b@example.com', '.ann@example.com', 'ann@-example.com', 'anné@example.com', `${'a'.repeat(65)}@example.com`])(
    'refuses %s',
    (email) => {
      expect(isHubspotEmail(email)).toBe(false);
    },
  );
});
