// validate.js - validates an OpenAPI document (a file) with
// @apidevtools/swagger-parser: the OpenAPI 3.1 JSON schema, then its own
// checks ($refs resolve, path parameters declared, operationIds unique).
// Prints {"ok": true, "paths": N} or {"ok": false, "error": "..."}.
import SwaggerParser from "@apidevtools/swagger-parser";

const file = process.argv[2];
try {
  const api = await SwaggerParser.validate(file);
  process.stdout.write(JSON.stringify({ ok: true, version: api.openapi,
                                        paths: Object.keys(api.paths).length }) + "\n");
} catch (e) {
  process.stdout.write(JSON.stringify({ ok: false, error: String(e.message || e) }) + "\n");
}
