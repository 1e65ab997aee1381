// Request validation with two Ajv instances: query strings, params and headers are text, so
// they are coerced ("10" → 10); JSON bodies already carry types and are never coerced — with
// coercion a union such as boolean | number | string would turn 1 into true. Unknown fields
// are refused, not silently dropped.

import { Ajv, type Options } from 'ajv';
import addFormatsModule from 'ajv-formats';
import type { FastifySchemaCompiler } from 'fastify';

// ajv-formats is CommonJS: its default export arrives wrapped under ESM.
const addFormats = ((addFormatsModule as unknown as { default?: typeof addFormatsModule }).default ??
  addFormatsModule) as unknown as (ajv: Ajv) => Ajv;

const BASE: Options = { removeAdditional: false, useDefaults: true, allErrors: false, strict: false };

function ajvWith(coerceTypes: Options['coerceTypes']): Ajv {
  const ajv = new Ajv({ ...BASE, coerceTypes });
  addFormats(ajv);
  return ajv;
}

export function validatorCompiler(): FastifySchemaCompiler<unknown> {
  const body = ajvWith(false);
  const text = ajvWith('array');
  return ({ schema, httpPart }) => (httpPart === 'body' ? body : text).compile(schema as object);
}
