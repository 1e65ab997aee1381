// Request validation with two Ajv instances: query strings, params and headers are text, so
// they are coerced ("10" → 10); JSON bodies already carry types and are never coerced — with
// coercion a union such as boolean | number | string would turn 1 into true. Unknown fields
// are refused, not silently dropped. Response serializers are fastify's (fast-json-stringify).
//
// Both are compiled once per schema object, not once per app: route schemas are module
// constants, and compiling them is most of what building an app costs (a process that builds
// many apps, such as the test suite or several instances, pays it once). And each is compiled on
// the first request that needs it, not at start: compiling every route's schemas was ~0.4 s of a
// 1.2 s start, for routes most instances never serve.

import { Ajv, type Options, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';
import type { FastifySchemaCompiler, FastifySerializerCompiler } from 'fastify';
import fastJsonStringify, { type Schema } from 'fast-json-stringify';

// ajv-formats is CommonJS: its default export arrives wrapped under ESM.
const addFormats = ((addFormatsModule as unknown as { default?: typeof addFormatsModule }).default ??
  addFormatsModule) as unknown as (ajv: Ajv) => Ajv;

// Our schemas are built by TypeBox, not written by hand: checking each against the JSON Schema
// meta-schema would compile that first (~60 ms, the largest step of the first compilation).
const BASE: Options = {
  removeAdditional: false,
  useDefaults: true,
  allErrors: false,
  strict: false,
  validateSchema: false,
};

/** One Ajv and its compiled validators, by schema object (weakly: a schema built per app goes with the app). */
class ValidatorCache {
  #ajv: Ajv | undefined;
  readonly #compiled = new WeakMap<object, ValidateFunction>();

  constructor(private readonly coerceTypes: Options['coerceTypes']) {}

  compile(schema: object): ValidateFunction {
    let validate = this.#compiled.get(schema);
    if (validate === undefined) {
      this.#ajv ??= addFormats(new Ajv({ ...BASE, coerceTypes: this.coerceTypes }));
      validate = this.#ajv.compile(schema);
      // The compiled function stands alone: Ajv's own cache would hold every schema for ever.
      this.#ajv.removeSchema(schema);
      this.#compiled.set(schema, validate);
    }
    return validate;
  }
}

const bodies = new ValidatorCache(false);
const texts = new ValidatorCache('array');

/** Fastify reads a failed validation's errors from the function, as Ajv leaves them. */
type LazyValidate = ((data: unknown) => boolean) & { errors?: ValidateFunction['errors'] };

/**
 * Compilations not yet done: each compiles its schema (a no-op once it has been). The server
 * runs them after it listens, one per turn of the event loop ({@link compileDeferred}).
 */
export type DeferredCompilations = Set<() => void>;

export function validatorCompiler(deferred?: DeferredCompilations): FastifySchemaCompiler<unknown> {
  return ({ schema, httpPart }) => {
    const cache = httpPart === 'body' ? bodies : texts;
    let validate: ValidateFunction | undefined;
    const compile = (): ValidateFunction => (validate ??= cache.compile(schema as object));
    deferred?.add(compile);
    const lazy: LazyValidate = (data) => {
      const valid = compile()(data);
      lazy.errors = (validate as ValidateFunction).errors;
      return valid;
    };
    return lazy;
  };
}

/**
 * Runs the deferred compilations one per turn of the event loop, so requests go between them,
 * starting `afterMs` from now: the first requests of a new instance (health checks, the traffic a
 * load balancer sends once they pass) find the event loop free.
 */
export function compileDeferred(deferred: DeferredCompilations, afterMs = 0): void {
  const step = (): void => {
    const next = deferred.values().next();
    if (next.done) return;
    deferred.delete(next.value);
    next.value();
    setImmediate(step);
  };
  setTimeout(step, afterMs).unref();
}

type Serializer = (data: unknown) => string;
const serializers = new WeakMap<object, Serializer>();

/**
 * Fastify's response serializer (fast-json-stringify with its default options), compiled once
 * per schema object. The app registers no shared schemas (`addSchema`): a response schema is
 * whole in itself, so the same object always compiles to the same function.
 */
export function serializerCompiler(deferred?: DeferredCompilations): FastifySerializerCompiler<unknown> {
  return ({ schema }) => {
    const key = schema as object;
    let serialize = serializers.get(key);
    const compile = (): Serializer => {
      if (serialize === undefined) {
        serialize = serializers.get(key) ?? (fastJsonStringify(schema as Schema) as Serializer);
        serializers.set(key, serialize);
      }
      return serialize;
    };
    if (serialize === undefined) deferred?.add(compile);
    return (data) => compile()(data);
  };
}
