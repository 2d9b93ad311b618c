#include "pipeline/template.h"

#include <algorithm>

#include "common/error.h"
#include "common/strings.h"
#include "common/time.h"

namespace sluice::pipeline {
namespace {

void SkipSpaces(std::string_view s, size_t* i) {
  while (*i < s.size() && (s[*i] == ' ' || s[*i] == '\t' || s[*i] == '\n')) (*i)++;
}

// Parses the inside of "{{ ... }}". Returns "" on success, else the problem.
std::string ParseExpr(std::string_view body, TemplateExpr* expr) {
  size_t i = 0;
  SkipSpaces(body, &i);
  size_t start = i;
  while (i < body.size() && (std::isalnum(static_cast<unsigned char>(body[i])) || body[i] == '_'))
    i++;
  expr->name = std::string(body.substr(start, i - start));
  if (expr->name.empty()) return "expected a variable name or a call like ref('zone.name')";
  SkipSpaces(body, &i);
  if (i < body.size() && body[i] == '(') {
    expr->is_call = true;
    i++;
    SkipSpaces(body, &i);
    if (i < body.size() && body[i] == ')') {
      i++;
    } else {
      for (;;) {
        SkipSpaces(body, &i);
        if (i >= body.size() || (body[i] != '\'' && body[i] != '"')) {
          return "arguments of " + expr->name + "() must be quoted strings";
        }
        char q = body[i++];
        size_t arg_start = i;
        while (i < body.size() && body[i] != q) i++;
        if (i >= body.size()) return "unterminated string in " + expr->name + "()";
        expr->args.emplace_back(body.substr(arg_start, i - arg_start));
        i++;
        SkipSpaces(body, &i);
        if (i < body.size() && body[i] == ',') {
          i++;
          continue;
        }
        if (i < body.size() && body[i] == ')') {
          i++;
          break;
        }
        return "expected ',' or ')' in " + expr->name + "()";
      }
    }
  }
  SkipSpaces(body, &i);
  if (i != body.size()) {
    return "unexpected '" + std::string(body.substr(i)) +
           "' (templates hold one variable or call; filters and logic are not supported)";
  }
  return "";
}

}  // namespace

std::vector<TemplateExpr> ParseTemplate(std::string_view text, std::vector<TemplateIssue>* issues) {
  std::vector<TemplateExpr> out;
  size_t pos = 0;
  while ((pos = text.find("{{", pos)) != std::string_view::npos) {
    size_t end = text.find("}}", pos + 2);
    if (end == std::string_view::npos) {
      issues->push_back({pos, "'{{' is not closed by '}}'"});
      break;
    }
    TemplateExpr expr;
    expr.offset = pos;
    std::string problem = ParseExpr(text.substr(pos + 2, end - pos - 2), &expr);
    if (problem.empty()) {
      out.push_back(expr);
    } else {
      issues->push_back({pos, problem});
    }
    pos = end + 2;
  }
  return out;
}

const std::vector<std::string>& TemplateVariableNames() {
  static const std::vector<std::string> names = {
      "ds",           "ds_nodash",           "prev_ds",
      "next_ds",      "data_interval_start", "data_interval_end",
      "yesterday_ds", "tomorrow_ds",         "ts",
      "logical_date"};
  return names;
}

std::map<std::string, std::string> DateVariables(const std::string& ds) {
  auto date = Date::Parse(ds);
  if (!date) throw InvalidInput("'" + ds + "' is not a date (write YYYY-MM-DD)");
  if (!date->IsLogicalDate()) {
    throw InvalidInput("'" + ds +
                       "' is out of range: a run's date is from 0001-01-02 to 9999-12-30");
  }
  std::map<std::string, std::string> v;
  v["ds"] = date->ToString();
  v["ds_nodash"] = date->NoDash();
  v["prev_ds"] = date->AddDays(-1).ToString();
  v["next_ds"] = date->AddDays(1).ToString();
  v["yesterday_ds"] = v["prev_ds"];
  v["tomorrow_ds"] = v["next_ds"];
  v["data_interval_start"] = date->ToString() + "T00:00:00";
  v["data_interval_end"] = date->AddDays(1).ToString() + "T00:00:00";
  v["ts"] = date->ToString() + "T00:00:00+00:00";
  v["logical_date"] = v["ts"];
  return v;
}

std::string CheckTemplateExpr(const TemplateExpr& expr,
                              const std::map<std::string, std::string>& vars) {
  const auto& names = TemplateVariableNames();
  if (!expr.is_call) {
    if (std::find(names.begin(), names.end(), expr.name) != names.end()) return "";
    std::vector<std::string> candidates = names;
    candidates.push_back("ref");
    candidates.push_back("var");
    std::string near = ClosestMatch(expr.name, candidates);
    return "unknown template variable '" + expr.name + "'" +
           (near.empty() ? " (known: " + Join(names, ", ") + ", ref(), var())"
                         : " (did you mean '" + near + "'?)");
  }
  if (expr.name == "ref") {
    if (expr.args.empty() || expr.args.size() > 2) {
      return "ref() takes a dataset and an optional scope: ref('zone.name') or "
             "ref('zone.name', 'all')";
    }
    if (expr.args.size() == 2 && expr.args[1] != "all") {
      return "ref() scope '" + expr.args[1] + "' is unknown (write 'all' or leave it out)";
    }
    return "";
  }
  if (expr.name == "var") {
    if (expr.args.size() != 1) return "var() takes one name: var('name')";
    if (!vars.count(expr.args[0])) {
      return "var('" + expr.args[0] + "') has no value (add it under vars: or pass --var " +
             expr.args[0] + "=VALUE)";
    }
    return "";
  }
  return "unknown template function '" + expr.name + "()' (known: ref(), var())";
}

std::string RenderTemplate(std::string_view text, const TemplateContext& context,
                           const std::string& what) {
  std::vector<TemplateIssue> issues;
  auto exprs = ParseTemplate(text, &issues);
  if (!issues.empty()) throw InvalidInput(what + ": template error: " + issues[0].message);
  std::string out;
  size_t pos = 0;
  for (const auto& e : exprs) {
    out.append(text.substr(pos, e.offset - pos));
    std::string problem = CheckTemplateExpr(e, context.vars);
    if (!problem.empty()) throw InvalidInput(what + ": " + problem);
    if (!e.is_call) {
      auto it = context.variables.find(e.name);
      if (it == context.variables.end())
        throw InvalidInput(what + ": '" + e.name + "' has no value");
      out += it->second;
    } else if (e.name == "var") {
      out += context.vars.at(e.args[0]);
    } else {
      if (!context.ref) throw InvalidInput(what + ": ref() cannot be used here");
      out += context.ref(e.args[0], e.args.size() > 1 ? e.args[1] : "");
    }
    pos = text.find("}}", e.offset) + 2;
  }
  out.append(text.substr(pos));
  return out;
}

}  // namespace sluice::pipeline
