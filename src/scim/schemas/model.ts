// The SCIM attribute model (RFC 7643 section 7), as data: it drives /Schemas, input validation,
// filter resolution, PATCH paths and attribute projection.

export type AttributeType = 'string' | 'boolean' | 'decimal' | 'integer' | 'dateTime' | 'reference' | 'complex' | 'binary';
export type Mutability = 'readOnly' | 'readWrite' | 'immutable' | 'writeOnly';
export type Returned = 'always' | 'never' | 'default' | 'request';

export type Attribute = {
  name: string;
  type: AttributeType;
  multiValued: boolean;
  description: string;
  required: boolean;
  caseExact: boolean;
  mutability: Mutability;
  returned: Returned;
  uniqueness: 'none' | 'server' | 'global';
  canonicalValues?: string[];
  referenceTypes?: string[];
  subAttributes?: Attribute[];
};

export type Schema = { id: string; name: string; description: string; attributes: Attribute[] };

type Options = Partial<Omit<Attribute, 'name' | 'type' | 'description'>>;

export function attr(name: string, type: AttributeType, description: string, options: Options = {}): Attribute {
  return {
    name, type, description,
    multiValued: false, required: false, caseExact: false, mutability: 'readWrite', returned: 'default', uniqueness: 'none',
    ...options,
  };
}

export const str = (name: string, description: string, options: Options = {}) => attr(name, 'string', description, options);

/** The usual shape of a multi-valued attribute: value, display, type, primary. */
export function multi(name: string, description: string, shape: { types: string[]; extra?: Attribute[]; valueType?: AttributeType }): Attribute {
  const { types, extra = [], valueType = 'string' } = shape;
  return attr(name, 'complex', description, {
    multiValued: true,
    subAttributes: [
      attr('value', valueType, `The value of ${name}.`),
      str('display', 'A human-readable name, primarily used for display purposes.'),
      str('type', 'A label indicating the function of the value.', types.length ? { canonicalValues: types } : {}),
      attr('primary', 'boolean', 'Indicates the preferred value; at most one is true.'),
      ...extra,
    ],
  });
}

/** Finds a (sub-)attribute by name, case-insensitively, as RFC 7643 requires. */
export function findAttribute(attributes: Attribute[] | undefined, name: string): Attribute | undefined {
  const lower = name.toLowerCase();
  return attributes?.find((a) => a.name.toLowerCase() === lower);
}
