#include "connectors/mysql/mysql.h"
