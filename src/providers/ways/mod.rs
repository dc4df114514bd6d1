//! WaysCloud Databases (`seeds/wayscloud-databases-api.txt`): PostgreSQL and MariaDB databases.

pub mod sim;
