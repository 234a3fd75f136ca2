import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  checkGoStruct,
  decodeJsonBody,
  goJsonError,
  unmarshalJson,
} from '../../src/api/go-json.ts';

/**
 * What dockerd 20.10.24 answered for each body: `POST /containers/create` (Go's json.Decoder)
 * and `GET /containers/json?filters=` (json.Unmarshal), captured on this machine.
 */
const dockerd: [body: string, decoder: string, unmarshal: string | null][] = [
  ['', 'EOF', null],
  [' ', 'EOF', 'unexpected end of JSON input'],
  ['{', 'unexpected EOF', 'unexpected end of JSON input'],
  [
    '{bad',
    "invalid character 'b' looking for beginning of object key string",
    "invalid character 'b' looking for beginning of object key string",
  ],
  ['{"a"', 'unexpected EOF', 'unexpected end of JSON input'],
  ['{"a":', 'unexpected EOF', 'unexpected end of JSON input'],
  ['{"a":1', 'unexpected EOF', 'unexpected end of JSON input'],
  [
    '{"a":1 x',
    "invalid character 'x' after object key:value pair",
    "invalid character 'x' after object key:value pair",
  ],
  ['{"a" 1}', "invalid character '1' after object key", "invalid character '1' after object key"],
  [
    '[1 2]',
    "invalid character '2' after array element",
    "invalid character '2' after array element",
  ],
  ['[1,', 'unexpected EOF', 'unexpected end of JSON input'],
  ['tru', 'unexpected EOF', "invalid character ' ' in literal true (expecting 'e')"],
  [
    'trux',
    "invalid character 'x' in literal true (expecting 'e')",
    "invalid character 'x' in literal true (expecting 'e')",
  ],
  ['nul', 'unexpected EOF', "invalid character ' ' in literal null (expecting 'l')"],
  [
    'nulL',
    "invalid character 'L' in literal null (expecting 'l')",
    "invalid character 'L' in literal null (expecting 'l')",
  ],
  [
    'fals3',
    "invalid character '3' in literal false (expecting 'e')",
    "invalid character '3' in literal false (expecting 'e')",
  ],
  ['-', 'unexpected EOF', "invalid character ' ' in numeric literal"],
  ['-x', "invalid character 'x' in numeric literal", "invalid character 'x' in numeric literal"],
  ['1.', 'unexpected EOF', "invalid character ' ' after decimal point in numeric literal"],
  [
    '1.x',
    "invalid character 'x' after decimal point in numeric literal",
    "invalid character 'x' after decimal point in numeric literal",
  ],
  ['1e', 'unexpected EOF', "invalid character ' ' in exponent of numeric literal"],
  [
    '1ex',
    "invalid character 'x' in exponent of numeric literal",
    "invalid character 'x' in exponent of numeric literal",
  ],
  ['"abc', 'unexpected EOF', 'unexpected end of JSON input'],
  [
    '"a\\x"',
    "invalid character 'x' in string escape code",
    "invalid character 'x' in string escape code",
  ],
  [
    '"\\u12g4"',
    "invalid character 'g' in \\u hexadecimal character escape",
    "invalid character 'g' in \\u hexadecimal character escape",
  ],
  [
    '"a\nb"',
    "invalid character '\\n' in string literal",
    "invalid character '\\n' in string literal",
  ],
  [
    "'single'",
    "invalid character '\\'' looking for beginning of value",
    "invalid character '\\'' looking for beginning of value",
  ],
  [
    '}',
    "invalid character '}' looking for beginning of value",
    "invalid character '}' looking for beginning of value",
  ],
  [
    ']',
    "invalid character ']' looking for beginning of value",
    "invalid character ']' looking for beginning of value",
  ],
  [
    'é',
    "invalid character 'Ã' looking for beginning of value",
    "invalid character 'Ã' looking for beginning of value",
  ],
  [
    '{"\t":1,}',
    "invalid character '\\t' in string literal",
    "invalid character '\\t' in string literal",
  ],
  [
    '{,}',
    "invalid character ',' looking for beginning of object key string",
    "invalid character ',' looking for beginning of object key string",
  ],
  [
    '[,]',
    "invalid character ',' looking for beginning of value",
    "invalid character ',' looking for beginning of value",
  ],
  [
    '[1,]',
    "invalid character ']' looking for beginning of value",
    "invalid character ']' looking for beginning of value",
  ],
  ['"\\', 'unexpected EOF', "invalid character ' ' in string escape code"],
  [
    '\u0000',
    "invalid character '\\x00' looking for beginning of value",
    "invalid character '\\x00' looking for beginning of value",
  ],
  [
    '',
    "invalid character '\\x7f' looking for beginning of value",
    "invalid character '\\x7f' looking for beginning of value",
  ],
  [
    '{"a":"\u0001"}',
    "invalid character '\\x01' in string literal",
    "invalid character '\\x01' in string literal",
  ],
  [
    '+1',
    "invalid character '+' looking for beginning of value",
    "invalid character '+' looking for beginning of value",
  ],
  [
    '.5',
    "invalid character '.' looking for beginning of value",
    "invalid character '.' looking for beginning of value",
  ],
  [
    'NaN',
    "invalid character 'N' looking for beginning of value",
    "invalid character 'N' looking for beginning of value",
  ],
  [
    'Infinity',
    "invalid character 'I' looking for beginning of value",
    "invalid character 'I' looking for beginning of value",
  ],
];

test("a body that is not JSON gets Go's words, for the decoder and for Unmarshal", () => {
  for (const [body, decoder, unmarshal] of dockerd) {
    assert.equal(goJsonError(Buffer.from(body), 'decode'), decoder, JSON.stringify(body));
    if (unmarshal !== null)
      assert.equal(goJsonError(Buffer.from(body), 'unmarshal'), unmarshal, JSON.stringify(body));
  }
});

test('valid JSON passes; the decoder reads the first value and ignores what follows', () => {
  assert.equal(
    goJsonError(Buffer.from('[1,{"a":[true,null,{}],"b":"x\\u00e9"}]  '), 'unmarshal'),
    null,
  );
  assert.deepEqual(decodeJsonBody(Buffer.from(' {"a":[1,2]} trailing')), { a: [1, 2] });
  assert.throws(() => unmarshalJson('{"a":1} x'), /invalid character 'x' after top-level value/);
});

test("nesting deeper than Go's 10,000 is refused without exhausting the stack", () => {
  const deep = (n: number) => Buffer.from('['.repeat(n) + ']'.repeat(n));
  assert.equal(goJsonError(deep(10_000), 'decode'), null);
  assert.equal(goJsonError(deep(10_001), 'decode'), 'exceeded max depth');
  assert.equal(goJsonError(deep(1_000_000), 'decode'), 'exceeded max depth');
});

test("a body of the wrong shape gets encoding/json's words, field path and all (as dockerd 20.10 answered)", () => {
  const shape = {
    Cmd: 'strslice',
    Env: '[]string',
    StopTimeout: 'int',
    Labels: 'map[string]string',
    HostConfig: {
      struct: 'container.HostConfig',
      fields: {
        Binds: '[]string',
        RestartPolicy: { struct: 'container.RestartPolicy', fields: { Name: 'string' } },
      },
    },
  } as const;
  const check = (body: unknown) => () =>
    checkGoStruct(body, 'runconfig.ContainerConfigWrapper', shape);
  for (const [body, message] of [
    [
      { HostConfig: 'always' },
      'json: cannot unmarshal string into Go struct field ContainerConfigWrapper.HostConfig of type container.HostConfig',
    ],
    [
      { HostConfig: { Binds: 'x' } },
      'json: cannot unmarshal string into Go struct field HostConfig.HostConfig.Binds of type []string',
    ],
    [
      { HostConfig: { RestartPolicy: { Name: 5 } } },
      'json: cannot unmarshal number into Go struct field RestartPolicy.HostConfig.RestartPolicy.Name of type string',
    ],
    [
      { Cmd: 5 },
      'json: cannot unmarshal number into Go struct field ContainerConfigWrapper.Cmd of type string',
    ],
    [
      { Env: 'a' },
      'json: cannot unmarshal string into Go struct field ContainerConfigWrapper.Env of type []string',
    ],
    [
      { StopTimeout: 1.5 },
      'json: cannot unmarshal number 1.5 into Go struct field ContainerConfigWrapper.StopTimeout of type int',
    ],
    [
      { Labels: { a: 1 } },
      'json: cannot unmarshal number into Go struct field ContainerConfigWrapper.Labels of type string',
    ],
  ] as const)
    assert.throws(check(body), { message }, JSON.stringify(body));
  assert.doesNotThrow(check({ Cmd: 'sh', cmd: ['a'], HostConfig: null, Unknown: 5 }));
});

test("a list of structs is checked element by element, with Go's words for the list and for an element's field", () => {
  const shape = {
    IPAM: {
      struct: 'network.IPAM',
      fields: {
        Config: {
          slice: { struct: 'network.IPAMConfig', fields: { Subnet: 'string', Gateway: 'string' } },
        },
      },
    },
  } as const;
  const check = (body: unknown) => () => checkGoStruct(body, 'types.NetworkCreateRequest', shape);
  for (const [body, message] of [
    [
      { IPAM: { Config: {} } },
      'json: cannot unmarshal object into Go struct field IPAM.IPAM.Config of type []network.IPAMConfig',
    ],
    [
      { IPAM: { Config: ['10.0.0.0/8'] } },
      'json: cannot unmarshal string into Go struct field IPAM.IPAM.Config of type network.IPAMConfig',
    ],
    [
      { IPAM: { Config: [{ Subnet: '10.0.0.0/8' }, { Gateway: false }] } },
      'json: cannot unmarshal bool into Go struct field IPAMConfig.IPAM.Config.Gateway of type string',
    ],
  ] as const)
    assert.throws(check(body), { message }, JSON.stringify(body));
  assert.doesNotThrow(check({ IPAM: { Config: [null, { Subnet: '10.0.0.0/8' }] } }));
  assert.doesNotThrow(check({ IPAM: { Config: null } }));
});
