-- An adversarial master for the landing of types (tests/test_types.py): composite,
-- range and multirange types, domains over them, arrays of all of these, nested,
-- with the values that break naive text handling (quotes, commas, parentheses,
-- backslashes, nulls inside composites and arrays, empty and unbounded ranges),
-- and the extension types Supabase masters carry, in schema `extensions` as
-- Supabase puts them.
--
-- A section after a line `-- needs: NAME` runs only on a server that has
-- extension NAME available, or XML support for `xml` (tests/adversarial.py splits
-- the file on those lines): the embedded PostgreSQL has pgvector only, and no
-- libxml; Debian's PostgreSQL 15 has contrib (citext, hstore, ltree, cube) and
-- libxml, and no pgvector.

create schema if not exists extensions;
create schema if not exists other;

create type mood as enum ('sad', 'ok', 'happy');
create domain positive as numeric(12, 2) check (value > 0);
create type full_name as (first text, last text);
create type money_amount as (amount positive, currency char(3));
create type address as (street text, city varchar(40), zip char(5), geo point);
create type contact as (
    name full_name,
    home address,
    moods mood[],
    tags text[],
    paid money_amount
);
create domain named_contact as contact
    check (value is null or (value).name is not null);
create type floatrange as range (subtype = float8, subtype_diff = float8mi);
create type moodrange as range (subtype = mood);
create domain nonempty_span as floatrange check (not isempty(value));
-- Another schema's type of the same name: the landing schema can hold one.
create type other.mood as enum ('x', 'y');

create table shapes (
    id integer primary key,
    who contact,
    crowd contact[],
    checked named_contact,
    price money_amount,
    span floatrange,
    spans floatmultirange,
    span_list floatrange[],
    feelings moodrange,
    feeling_spans moodmultirange,
    strict_span nonempty_span,
    periods tstzmultirange,
    nums int4range[],
    grid integer[][],
    updated_at timestamptz not null default now()
);

insert into shapes (id, who, crowd, checked, price, span, spans, span_list,
                    feelings, feeling_spans, strict_span, periods, nums, grid)
values
    (1,
     row(row('Ann', 'O''Neil, "Jr."'), row('1 (Main) St', 'Tel Aviv', '12345',
         point(1.5, -2)), '{sad,happy}', '{"a b","c,d","e\\f",NULL}',
         row(10.50, 'ILS'))::contact,
     array[row(row('B', null), null, '{}', '{}', null)::contact, null],
     row(row('C', ''), null, null, null, null)::contact,
     row(0.01, 'USD'),
     '[1.5,2.25)', '{[1,2), [3,infinity)}', '{"[1,2)","empty",NULL}',
     '[sad,happy)', '{[sad,ok), [happy,happy]}', '(,0.1]',
     '{["2024-01-01 00:00+00","2024-06-30 12:00+05:30")}',
     '{"[1,5)","empty"}', '{{1,2},{3,NULL}}'),
    (2, null, '{}', null, null, 'empty', '{}', '{}', 'empty', '{}', '[-infinity,0]',
     '{}', '{}', '{}'),
    (3,
     row(row('מרים', 'כהן'), row(')(', '"', ',', null), '{ok}', '{}', null),
     array[row(row('x', 'y'), row('s', 'c', null, point(0, 0)), '{}', '{"}"}',
           row(1, 'EUR'))::contact],
     row(row('D', '\'), null, null, null, null)::contact,
     row(99999999.99, 'ABC'),
     '(,)', '{(,)}', null, '(,)', '{(,)}', '[1e-300,1e300]',
     null, null, null);

-- A composite primary key: incremental runs hash it as text on both sides.
create table keyed_by_name (
    name full_name primary key,
    note text,
    updated_at timestamptz not null default now()
);
insert into keyed_by_name (name, note) values
    (row('a', 'b'), 'plain'),
    (row('a,b', '(c)'), 'commas'),
    (row(null, 'x'), 'a null inside'),
    (row('"', '\'), 'quotes');

-- Two enums named mood: master_raw holds public's, other.mood lands as text; so
-- does other.shapes, a type named as a table that lands in master_raw.
create type other.shapes as (n integer);
create table moods_of_two_schemas (
    id integer primary key,
    here mood,
    there other.mood,
    theres other.mood[],
    shaped other.shapes
);
insert into moods_of_two_schemas values
    (1, 'ok', 'x', '{x,y}', row(1)), (2, null, null, null, null);

-- A domain the replica cannot make (its check calls master's own function) lands
-- as its base type; a domain over it, and arrays of it, follow.
create function is_even(n integer) returns boolean
    language sql immutable as 'select n % 2 = 0';
create domain even as integer check (is_even(value));
create domain small_even as even check (value < 100);
create table numbers (id integer primary key, e even, s small_even, es even[]);
insert into numbers values (1, 2, 4, '{6,NULL}'), (2, null, null, null);

-- needs: xml
create domain document as xml;
create table documents (
    id integer primary key,
    body xml,
    parts xml[],
    checked document
);
insert into documents values
    (1, '<a href="x">b &amp; c</a>', array['<p/>'::xml, null], 'text only'),
    (2, null, '{}', null);

-- needs: citext
create extension if not exists citext with schema extensions;
create domain email as extensions.citext check (value like '%@%');
create type mailbox as (owner text, address extensions.citext);
create table people (
    email extensions.citext primary key,
    aliases extensions.citext[],
    checked email,
    box mailbox,
    boxes mailbox[],
    updated_at timestamptz not null default now()
);
insert into people (email, aliases, checked, box, boxes) values
    ('Ann@Example.com', '{ANN@x.io,"a, b"}', 'Q@q.q',
     row('ann', 'Ann@Example.com'), array[row('x', 'Y@y')::mailbox, null]),
    ('bob@example.com', null, null, null, null),
    ('"quoted"@x', '{}', 'a@b', row(null, null), '{}');

-- needs: hstore
create extension if not exists hstore with schema extensions;
create type tagged as (label text, attrs extensions.hstore);
create table settings (
    id integer primary key,
    attrs extensions.hstore,
    history extensions.hstore[],
    item tagged,
    updated_at timestamptz not null default now()
);
insert into settings (id, attrs, history, item) values
    (1, 'a=>1, "b c"=>"d, e", "q\"uote"=>NULL, empty=>""',
     array['x=>1'::extensions.hstore, ''::extensions.hstore, null],
     row('one', 'k=>v')),
    (2, '', '{}', row(null, null)),
    (3, null, null, null);

-- needs: ltree
create extension if not exists ltree with schema extensions;
create table tree (
    id integer primary key,
    path extensions.ltree not null,
    paths extensions.ltree[],
    query extensions.lquery
);
insert into tree values
    (1, 'top.science.astronomy', '{top,top.art}', '*.science.*'),
    (2, '', '{}', null);

-- needs: cube
create extension if not exists cube with schema extensions;
create table boxes (id integer primary key, c extensions.cube, cs extensions.cube[]);
insert into boxes values
    (1, '(1,2,3),(4,5,6)', array['(0)'::extensions.cube, '(1e-10, -2.5)']),
    (2, '(0.1)', null);

-- needs: vector
create extension if not exists vector with schema extensions;
create table embeddings (
    id integer primary key,
    embedding extensions.vector(3) not null,
    loose extensions.vector,
    several extensions.vector(2)[]
);
insert into embeddings values
    (1, '[1,2.5,-3e-7]', '[0.1]', array['[1,2]'::extensions.vector(2), null]),
    (2, '[0,0,0]', null, '{}');
