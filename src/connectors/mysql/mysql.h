#pragma once

// The MySQL/MariaDB connector (MariaDB C client). Only this folder includes its headers.
// Work in progress: see src/tasks/db_load_mysql.cc.
