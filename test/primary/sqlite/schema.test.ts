// Schema normalisation and diff: equal schemas written differently compare equal, real
// differences show as readable -/+ lines.

import { test } from 'node:test'
import assert from 'node:assert/strict'
import path from 'node:path'
import Database from 'better-sqlite3'
import { diffSchemas, normalizeSql, readSchema } from '../../../src/primary/sqlite/schema.js'
import { tempDir } from './support.js'

function schemaOf (file: string, sql: string): ReturnType<typeof readSchema> {
  const db = new Database(file)
  try {
    db.exec(sql)
    return readSchema(db)
  } finally {
    db.close()
  }
}

test('normalizeSql strips comments, collapses whitespace, unquotes and lower-cases', () => {
  assert.equal(
    normalizeSql('CREATE TABLE "Items" (\n  -- the key\n  [id] INTEGER PRIMARY KEY, /* note */ `Name`   TEXT NOT NULL\n);'),
    'create table items(id integer primary key,name text not null)')
  assert.equal(normalizeSql('create table items ( id integer primary key , name text not null ) ;'),
    'create table items(id integer primary key,name text not null)')
})

test('normalizeSql keeps string literals, and comment markers inside them, as written', () => {
  assert.equal(
    normalizeSql("CREATE TABLE t (k TEXT DEFAULT 'A  -- not a comment /* nor this */', CHECK (k <> 'it''s'))"),
    "create table t(k text default 'A  -- not a comment /* nor this */',check(k <> 'it''s'))")
  assert.notEqual(normalizeSql("CREATE TABLE t (k DEFAULT 'A')"), normalizeSql("CREATE TABLE t (k DEFAULT 'a')"))
})

test('normalizeSql undoes doubled quotes inside quoted identifiers', () => {
  assert.equal(normalizeSql('CREATE TABLE "a""b" ("x y" INT)'), 'create table a"b(x y int)')
})

test('equal schemas written differently compare equal', (t) => {
  const dir = tempDir(t)
  const live = schemaOf(path.join(dir, 'live.sqlite3'), `
    CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL, price REAL);
    CREATE INDEX items_name ON items (name);
    CREATE VIEW cheap AS SELECT * FROM items WHERE price < 10;
  `)
  const candidate = schemaOf(path.join(dir, 'candidate.sqlite3'), `
    -- made by another tool
    create table "ITEMS" (
      [id]    integer primary key,   /* rowid alias */
      \`name\`  text not null,
      price   real
    );
    CREATE INDEX "items_name" ON "items"("name");
    CREATE VIEW Cheap AS SELECT * FROM items WHERE price < 10;
  `)
  assert.equal(live.length, 3)
  assert.deepEqual(diffSchemas(live, candidate), [])
})

test('a different column shows the live line with - and the uploaded line with +', (t) => {
  const dir = tempDir(t)
  const live = schemaOf(path.join(dir, 'live.sqlite3'),
    'CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT); CREATE TABLE users (id INTEGER PRIMARY KEY)')
  const candidate = schemaOf(path.join(dir, 'candidate.sqlite3'),
    'CREATE TABLE items (id INTEGER PRIMARY KEY, title TEXT); CREATE TABLE users (id INTEGER PRIMARY KEY); ' +
    'CREATE INDEX items_title ON items (title)')
  assert.deepEqual(diffSchemas(live, candidate), [
    '+ index items_title: create index items_title on items(title)',
    '- table items: create table items(id integer primary key,name text)',
    '+ table items: create table items(id integer primary key,title text)',
  ])
  assert.deepEqual(diffSchemas(candidate, live), [
    '- index items_title: create index items_title on items(title)',
    '- table items: create table items(id integer primary key,title text)',
    '+ table items: create table items(id integer primary key,name text)',
  ])
})

test('internal sqlite_% objects and automatic indexes are left out', (t) => {
  const dir = tempDir(t)
  // AUTOINCREMENT creates sqlite_sequence, UNIQUE an automatic index with NULL sql, ANALYZE
  // sqlite_stat1; a table whose name merely starts with "sqlite" (no underscore) is the
  // user's and must count.
  const file = path.join(dir, 'a.sqlite3')
  const withInternals = schemaOf(file, `
    CREATE TABLE items (id INTEGER PRIMARY KEY AUTOINCREMENT, code TEXT UNIQUE);
    CREATE TABLE sqliteish (x);
    INSERT INTO items (code) VALUES ('a');
    ANALYZE;
  `)
  const db = new Database(file, { readonly: true })
  const allNames = db.prepare('SELECT name FROM sqlite_master').pluck().all()
  db.close()
  assert.ok(allNames.includes('sqlite_sequence'))
  assert.ok(allNames.includes('sqlite_stat1'))
  assert.ok(allNames.includes('sqlite_autoindex_items_1'))
  assert.deepEqual(withInternals.map((e) => `${e.type} ${e.name}`), ['table items', 'table sqliteish'])

  const plain = schemaOf(path.join(dir, 'b.sqlite3'), `
    CREATE TABLE items (id INTEGER PRIMARY KEY AUTOINCREMENT, code TEXT UNIQUE);
    CREATE TABLE sqliteish (x);
  `)
  assert.deepEqual(diffSchemas(withInternals, plain), [])
})
