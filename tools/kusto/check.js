#!/usr/bin/env node
// Validate KQL queries with the official Kusto language service (@kusto/language-service-next).
//
// stdin:  {"database": "name",
//          "tables": {"TableName": [["Col", "type"], ...]},
//          "queries": [{"name": "...", "text": "..."}]}
// stdout: {"results": [{"name": "...",
//                       "diagnostics": [{"severity", "code", "message", "line", "column", "start", "length"}],
//                       "columns": [["Col", "type"], ...]}]}
//
// Only Error and Warning diagnostics are reported. `start`/`length` are Unicode code-point offsets into the
// query text (so Python slicing works); `line`/`column` are 1-based and derived from `start`. `columns` is
// the schema of the query's tabular result, in order ([] when the result is not tabular).
// Exit status: 0 when the checker ran (whether or not diagnostics were found); 2 on bad input; 3 when the
// language service package is not installed. Failures print a single line on stderr.
'use strict';

const path = require('path');

const PACKAGE = '@kusto/language-service-next';
const KUSTO_TYPES = ['string', 'datetime', 'dynamic', 'long', 'int', 'real', 'bool', 'guid', 'timespan', 'decimal'];
const REPORTED_SEVERITIES = new Set(['Error', 'Warning']);

class InputError extends Error {}

function fail(status, message) {
  process.stderr.write(`check.js: ${String(message).replace(/\s+/g, ' ').trim()}\n`);
  process.exit(status);
}

function loadKusto() {
  let pkgDir;
  try {
    pkgDir = path.dirname(require.resolve(`${PACKAGE}/package.json`));
  } catch (err) {
    fail(3, `cannot find ${PACKAGE} (run \`make node-deps\`)`);
  }
  // Order matters: the Bridge.NET runtime defines the global `Bridge` the compiled assembly needs.
  require(path.join(pkgDir, 'bridge.min.js'));
  require(path.join(pkgDir, 'Kusto.Language.Bridge.min.js'));
  return global.Kusto.Language;
}

function readStdin() {
  return new Promise((resolve, reject) => {
    const chunks = [];
    process.stdin.on('data', (chunk) => chunks.push(chunk));
    process.stdin.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    process.stdin.on('error', reject);
  });
}

function isPlainObject(value) {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function parseInput(raw) {
  let doc;
  try {
    doc = JSON.parse(raw);
  } catch (err) {
    throw new InputError(`stdin is not valid JSON: ${err.message}`);
  }
  if (!isPlainObject(doc)) throw new InputError('input must be a JSON object');
  const database = doc.database === undefined ? 'workspace' : doc.database;
  if (typeof database !== 'string' || database === '') throw new InputError('"database" must be a non-empty string');
  if (!isPlainObject(doc.tables)) throw new InputError('"tables" must be an object of table name -> columns');
  if (!Array.isArray(doc.queries)) throw new InputError('"queries" must be an array');

  const tables = [];
  for (const [table, columns] of Object.entries(doc.tables)) {
    if (table === '') throw new InputError('table names must be non-empty');
    if (!Array.isArray(columns)) throw new InputError(`columns of table ${table} must be an array`);
    const seen = new Set();
    const cols = columns.map((col, i) => {
      if (!Array.isArray(col) || col.length !== 2 || typeof col[0] !== 'string' || typeof col[1] !== 'string'
          || col[0] === '') {
        throw new InputError(`column ${i} of table ${table} must be a ["name", "type"] pair of strings`);
      }
      if (seen.has(col[0])) throw new InputError(`duplicate column ${col[0]} in table ${table}`);
      seen.add(col[0]);
      return col;
    });
    tables.push([table, cols]);
  }

  const names = new Set();
  const queries = doc.queries.map((q, i) => {
    if (!isPlainObject(q) || typeof q.name !== 'string' || typeof q.text !== 'string') {
      throw new InputError(`query ${i} must be an object with string "name" and "text"`);
    }
    if (names.has(q.name)) throw new InputError(`duplicate query name ${q.name}`);
    names.add(q.name);
    return { name: q.name, text: q.text };
  });
  return { database, tables, queries };
}

function buildGlobals(K, input) {
  const S = K.Symbols;
  const tableSymbols = input.tables.map(([table, cols]) => {
    const columnSymbols = cols.map(([name, typeName]) => {
      const type = S.ScalarTypes.GetSymbol(typeName);
      if (type === null || type === undefined) {
        throw new InputError(`unknown type ${typeName} for ${table}.${name} (expected one of ${KUSTO_TYPES.join(', ')})`);
      }
      // ColumnSymbol(name, type, description, originalColumns, source, examples)
      return new S.ColumnSymbol(name, type, null, null, null, null);
    });
    return new S.TableSymbol.$ctor4(table, columnSymbols); // TableSymbol(name, ColumnSymbol[])
  });
  const db = new S.DatabaseSymbol.$ctor2(input.database, null, tableSymbols); // (name, alternateName, Symbol[])
  return K.GlobalState.Default.WithDatabase(db);
}

// Map UTF-16 offsets (what the language service reports) to code-point offsets.
function codePointOffset(text, utf16Offset) {
  let cp = 0;
  for (let i = 0; i < utf16Offset && i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length) {
      const n = text.charCodeAt(i + 1);
      if (n >= 0xdc00 && n <= 0xdfff && i + 1 < utf16Offset) i++;
    }
    cp++;
  }
  return cp;
}

function lineAndColumn(text, utf16Offset) {
  const before = text.slice(0, Math.max(0, Math.min(utf16Offset, text.length)));
  const lastNewline = before.lastIndexOf('\n');
  const line = before.split('\n').length;
  const column = codePointOffset(before.slice(lastNewline + 1), before.length - lastNewline - 1) + 1;
  return { line, column };
}

function listToArray(list) {
  const out = [];
  if (list === null || list === undefined) return out;
  const n = list.Count;
  for (let i = 0; i < n; i++) out.push(list.getItem(i));
  return out;
}

function typeName(K, type) {
  if (type === null || type === undefined) return 'unknown';
  const text = K.Symbols.SchemaDisplay.GetScalarTypeText(type);
  return text || type.Name || 'unknown';
}

function checkQuery(K, globals, query) {
  const code = K.KustoCode.ParseAndAnalyze(query.text, globals);
  const diagnostics = listToArray(code.GetDiagnostics())
    .filter((d) => REPORTED_SEVERITIES.has(d.Severity))
    .map((d) => {
      const start = d.HasLocation ? d.Start : 0;
      const length = d.HasLocation ? d.Length : 0;
      const { line, column } = lineAndColumn(query.text, start);
      const cpStart = codePointOffset(query.text, start);
      return {
        severity: d.Severity,
        code: d.Code,
        message: d.Message,
        line,
        column,
        start: cpStart,
        length: codePointOffset(query.text, start + length) - cpStart,
      };
    });
  const result = code.ResultType;
  const columns = result && result.IsTabular && result.Columns
    ? listToArray(result.Columns).map((c) => [c.Name, typeName(K, c.Type)])
    : [];
  return { name: query.name, diagnostics, columns };
}

async function main() {
  let input;
  try {
    input = parseInput(await readStdin());
  } catch (err) {
    fail(2, err instanceof InputError ? err.message : `cannot read stdin: ${err.message}`);
  }
  const K = loadKusto();
  let globals;
  try {
    globals = buildGlobals(K, input);
  } catch (err) {
    fail(2, err instanceof InputError ? err.message : `cannot build schema: ${err.message}`);
  }
  const results = input.queries.map((q) => checkQuery(K, globals, q));
  process.stdout.write(`${JSON.stringify({ results })}\n`);
}

main().catch((err) => fail(1, `internal error: ${err && err.stack ? err.stack.split('\n')[0] : err}`));
