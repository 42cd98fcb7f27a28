#include "rules/loop_story.h"

#include <map>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "rules/describe.h"

namespace waitgraph::rules {
namespace {

using analyzer::Frame;
using analyzer::Incident;

std::string SiteKey(const analyzer::Model& model, analyzer::StackId stack) {
  return analyzer::LoopAffinity::DescribeSite(model, stack);
}

findings::RelatedLocation Related(const analyzer::Model& model, std::string role,
                                  std::string message, analyzer::StackId stack) {
  findings::RelatedLocation rel;
  rel.set_role(std::move(role));
  rel.set_message(std::move(message));
  if (const Frame* f = analyzer::LoopAffinity::SiteFrame(model, stack)) {
    *rel.mutable_location() = ToLocation(*f);
  }
  for (auto& loc : ToStack(model, stack)) *rel.add_stack() = std::move(loc);
  return rel;
}

}  // namespace

std::vector<std::vector<Incident>> GroupIncidents(const AnalysisInput& input,
                                                  analyzer::IncidentKind kind) {
  std::vector<std::vector<Incident>> groups;
  if (input.loop_affinity == nullptr) return groups;
  const analyzer::Model& model = input.model;
  std::map<std::tuple<std::string, std::string, std::string>, size_t> index;
  for (Incident& i : input.loop_affinity->Incidents()) {
    if (i.kind != kind) continue;
    // The object by where it was made (many requests, one module-level
    // client), else the loop itself.
    std::string what = absl::StrCat("loop ", i.loop);
    if (const analyzer::BoundObject* o = input.loop_affinity->FindObject(i.object)) {
      std::string site = SiteKey(model, o->origin_stack());
      if (!site.empty()) what = absl::StrCat(o->type_name(), "@", site);
    }
    auto key = std::make_tuple(what, i.api, SiteKey(model, i.stack));
    auto [it, inserted] = index.try_emplace(key, groups.size());
    if (inserted) groups.emplace_back();
    groups[it->second].push_back(std::move(i));
  }
  return groups;
}

std::string DescribeUseSite(const analyzer::Model& model, const Incident& incident) {
  std::string site = analyzer::LoopAffinity::DescribeSite(model, incident.stack);
  if (site.empty()) return incident.api;
  const Frame* f = analyzer::LoopAffinity::SiteFrame(model, incident.stack);
  std::string out = absl::StrCat(incident.api, f != nullptr && f->library ? " in " : " at ", site);
  // The user's line led to it, but a framework made the call: say which
  // line really did (anyio's pytest plugin setting its fixture's Event).
  const Frame* by = analyzer::LoopAffinity::FrameworkCaller(model, incident.stack);
  if (by != nullptr && f != nullptr && !f->library) {
    absl::StrAppend(&out, " (called in ", by->function, ", ", analyzer::ShortLocation(*by), ")");
  }
  return out;
}

std::string DescribeUser(const AnalysisInput& input, const Incident& incident) {
  if (incident.user_loop != 0) {
    return input.loop_affinity->DescribeLoopOrigin(input.model, incident.user_loop, incident.time);
  }
  return absl::StrCat("thread ", input.model.ThreadLabel(incident.thread),
                      ", which runs no event loop");
}

std::string DescribeBoundObject(const AnalysisInput& input, analyzer::EntityId object) {
  const analyzer::BoundObject* o = input.loop_affinity->FindObject(object);
  if (o == nullptr) return "";
  return input.loop_affinity->DescribeObject(input.model, *o);
}

findings::Finding LoopIncidentFinding(const AnalysisInput& input, const RuleInfo& info,
                                      const std::vector<Incident>& group, std::string message,
                                      std::string fix) {
  const analyzer::Model& model = input.model;
  const analyzer::LoopAffinity& affinity = *input.loop_affinity;
  const Incident& first = group.front();
  findings::Finding f = NewFinding(info);
  uint64_t times = 0;  // an incident may stand for several alike (Incident::times)
  for (const Incident& i : group) times += i.times;
  if (times > 1) absl::StrAppend(&message, " (", times, " times)");
  f.set_message(std::move(message));
  f.set_fix(std::move(fix));
  f.set_time_ns(first.time);
  f.set_cause(absl::StrCat("loop ", first.loop));
  // The user's line: where the use happened, or, on a thread running no
  // user code (asgiref's loop thread), where the user's code made the loop
  // that did it (the async_to_sync call).
  const Frame* where = nullptr;
  if (const Frame* fr = model.UserFrame(first.stack); fr != nullptr && !fr->library) {
    where = fr;
  } else if (const analyzer::LoopLife* l = affinity.FindLoop(first.user_loop)) {
    if (const Frame* lf = model.UserFrame(l->created_stack); lf != nullptr && !lf->library)
      where = lf;
  }
  if (where == nullptr) where = analyzer::LoopAffinity::SiteFrame(model, first.stack);
  if (where != nullptr) *f.mutable_location() = ToLocation(*where);
  for (auto& loc : ToStack(model, first.stack)) *f.add_stack() = std::move(loc);

  std::vector<std::string> parts = {FingerprintPart(model, first.api, first.stack)};
  if (const analyzer::BoundObject* o = affinity.FindObject(first.object)) {
    *f.add_related() =
        Related(model, "made here", affinity.DescribeObject(model, *o), o->origin_stack());
    if (o->bound_stack != 0 && o->bound_stack != o->origin_stack()) {
      *f.add_related() =
          Related(model, "bound to its loop here",
                  absl::StrCat(o->type_name(), " first used on its loop"), o->bound_stack);
    }
    parts.push_back(FingerprintPart(model, o->type_name(), o->origin_stack()));
  }
  if (const analyzer::LoopLife* l = affinity.FindLoop(first.loop)) {
    *f.add_related() = Related(model, "its loop was made here",
                               affinity.DescribeLoopOrigin(model, l->id), l->created_stack);
    parts.push_back(FingerprintPart(model, "loop", l->created_stack));
    if (l->closed_at && l->closed_stack != 0) {
      *f.add_related() =
          Related(model, "its loop was closed here", "loop.close()", l->closed_stack);
    }
  }
  if (first.user_loop != 0) {
    if (const analyzer::LoopLife* l = affinity.FindLoop(first.user_loop)) {
      *f.add_related() = Related(model, "used from the loop made here",
                                 affinity.DescribeLoopOrigin(model, l->id), l->created_stack);
    }
  }
  SetFingerprint(f, parts);
  return f;
}

}  // namespace waitgraph::rules
