-- One database per SQL service (SHOP_DATABASE_URL's "{service}"), made on the server's first start.
CREATE DATABASE shop_activity OWNER shop;
CREATE DATABASE shop_auth OWNER shop;
CREATE DATABASE shop_catalog OWNER shop;
CREATE DATABASE shop_content OWNER shop;
CREATE DATABASE shop_inventory OWNER shop;
CREATE DATABASE shop_orders OWNER shop;
CREATE DATABASE shop_payments OWNER shop;
CREATE DATABASE shop_profile OWNER shop;
CREATE DATABASE shop_reviews OWNER shop;
CREATE DATABASE shop_shipping OWNER shop;
