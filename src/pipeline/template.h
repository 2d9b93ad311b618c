#pragma once

#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::pipeline {

// One `{{ ... }}` expression: a variable (`ds`) or a call (`ref('raw.citizens')`).
struct TemplateExpr {
  size_t offset = 0;  // byte offset of "{{" in the text
  std::string name;   // ds, ds_nodash, ref, var, ...
  bool is_call = false;
  std::vector<std::string> args;  // string literal arguments of a call
};

struct TemplateIssue {
  size_t offset = 0;
  std::string message;
};

// Splits text into expressions. Syntax problems (an unclosed "{{", a bad argument list) are
// appended to issues; the expressions that parsed are returned.
std::vector<TemplateExpr> ParseTemplate(std::string_view text, std::vector<TemplateIssue>* issues);

// The variables every template may use, following Airflow's names.
const std::vector<std::string>& TemplateVariableNames();

// Values for rendering. ref(dataset, scope) returns the SQL for a dataset reference; scope is
// "" for the run's partition or "all" for every partition.
struct TemplateContext {
  std::map<std::string, std::string> variables;  // ds, ds_nodash, ...
  std::map<std::string, std::string> vars;       // var('name') values
  std::function<std::string(const std::string& dataset, const std::string& scope)> ref;
};

// Builds the date variables for a logical date "YYYY-MM-DD" (daily interval).
std::map<std::string, std::string> DateVariables(const std::string& ds);

// Renders text. Throws Error(kInvalidInput) naming `what` and the expression on an unknown
// variable, a var() without a value, or a ref the context cannot resolve.
std::string RenderTemplate(std::string_view text, const TemplateContext& context,
                           const std::string& what);

// Checks one expression against the known names; returns "" when fine, else the problem.
std::string CheckTemplateExpr(const TemplateExpr& expr,
                              const std::map<std::string, std::string>& vars);

}  // namespace sluice::pipeline
