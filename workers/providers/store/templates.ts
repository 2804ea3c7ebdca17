/**
 * The schema a new store's database starts with, per engine. Both carry the same core a store
 * needs (products with variants, customers, orders with their lines, admin users) with the keys,
 * foreign keys and indexes its queries rely on; they differ where the engines do (WooCommerce's
 * SKU-and-stock-on-variant catalogue and order statuses, Medusa's regions and currency codes).
 * Every statement is idempotent, so a re-run step converges.
 */
import type { Engine } from './runtime.ts';

const core = `
create table if not exists admin_users (
  id bigint generated always as identity primary key,
  email text not null unique,
  password_hash text not null,
  created_at timestamptz not null default now()
);
create table if not exists customers (
  id bigint generated always as identity primary key,
  email text not null,
  name text,
  created_at timestamptz not null default now()
);
create unique index if not exists customers_email_key on customers (lower(email));
create table if not exists products (
  id bigint generated always as identity primary key,
  handle text not null unique,
  title text not null,
  description text,
  status text not null default 'draft' check (status in ('draft', 'published', 'archived')),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create index if not exists products_status_idx on products (status, created_at desc);
`;

const woocommerce = `${core}
create table if not exists variants (
  id bigint generated always as identity primary key,
  product_id bigint not null references products (id) on delete cascade,
  sku text not null unique,
  price_cents integer not null check (price_cents >= 0),
  stock_quantity integer not null default 0,
  stock_status text not null default 'instock' check (stock_status in ('instock', 'outofstock', 'onbackorder')),
  attributes jsonb not null default '{}'
);
create index if not exists variants_product_idx on variants (product_id);
create table if not exists orders (
  id bigint generated always as identity primary key,
  customer_id bigint references customers (id),
  status text not null default 'pending'
    check (status in ('pending', 'processing', 'on-hold', 'completed', 'cancelled', 'refunded', 'failed')),
  currency text not null default 'USD',
  total_cents integer not null default 0,
  created_at timestamptz not null default now()
);
create index if not exists orders_customer_idx on orders (customer_id, created_at desc);
create index if not exists orders_status_idx on orders (status, created_at desc);
create table if not exists order_lines (
  order_id bigint not null references orders (id) on delete cascade,
  line integer not null,
  variant_id bigint not null references variants (id),
  quantity integer not null check (quantity > 0),
  unit_price_cents integer not null,
  primary key (order_id, line)
);
`;

const medusa = `${core}
create table if not exists regions (
  id bigint generated always as identity primary key,
  name text not null unique,
  currency_code char(3) not null
);
create table if not exists variants (
  id bigint generated always as identity primary key,
  product_id bigint not null references products (id) on delete cascade,
  sku text unique,
  title text not null,
  manage_inventory boolean not null default true,
  inventory_quantity integer not null default 0
);
create index if not exists variants_product_idx on variants (product_id);
create table if not exists prices (
  variant_id bigint not null references variants (id) on delete cascade,
  currency_code char(3) not null,
  amount integer not null check (amount >= 0),
  primary key (variant_id, currency_code)
);
create table if not exists orders (
  id bigint generated always as identity primary key,
  display_id bigint generated always as identity (start with 1001) unique,
  customer_id bigint references customers (id),
  region_id bigint references regions (id),
  status text not null default 'pending' check (status in ('pending', 'completed', 'archived', 'canceled', 'requires_action')),
  currency_code char(3) not null,
  total integer not null default 0,
  created_at timestamptz not null default now()
);
create index if not exists orders_customer_idx on orders (customer_id, created_at desc);
create table if not exists order_lines (
  order_id bigint not null references orders (id) on delete cascade,
  line integer not null,
  variant_id bigint not null references variants (id),
  quantity integer not null check (quantity > 0),
  unit_price integer not null,
  primary key (order_id, line)
);
`;

export const STORE_TEMPLATES: Record<Engine, string> = { woocommerce, medusa };
/** Tables every engine's template has (tests check them). */
export const CORE_TABLES = ['admin_users', 'customers', 'products', 'variants', 'orders', 'order_lines'];
