// Sans-IO bookkeeping of the requests a client session has sent to its server connection, in order,
// so each server response can be forwarded, swallowed (it answers a message sluice injected) or
// preceded by a response sluice synthesizes (for a client message sluice did not forward).
// Protocol basis: PostgreSQL 15 docs 55.2.3 "Extended Query": responses come in request order; after
// an ErrorResponse the server discards messages until Sync.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace sluice::router::pg {

enum class request_kind : std::uint8_t {
  parse,          // answered by ParseComplete
  bind,           // answered by BindComplete
  describe,       // answered by RowDescription or NoData (after ParameterDescription for statements)
  execute,        // answered by CommandComplete, EmptyQueryResponse or PortalSuspended
  close,          // answered by CloseComplete
  sync,           // answered by ReadyForQuery
  query,          // simple Query or FunctionCall: answered by everything up to ReadyForQuery
  copy_end,       // CopyDone or CopyFail sent before the server's CopyInResponse (pipelined ahead of
                  // it): answered by nothing; it marks where a COPY that is about to start ends
};

enum class request_action : std::uint8_t {
  forward,         // the client sent it; forward the server's answer
  swallow,         // sluice injected it (lazy Parse); drop the server's answer
  synthesize,      // sluice answered it itself (skipped Parse, Close): emit the answer in order
};

struct request {
  request_kind kind = request_kind::query;
  request_action action = request_action::forward;
  std::uint64_t statement_id = 0;  // for parse: sluice's id of the statement being prepared
  std::uint32_t client_parse = 0;  // a client's named Parse: its serial in the session (0: none); one
                                   // the server skips must not leave the name defined (on_server_message)
};

// What to do with one server message.
enum class response_verdict : std::uint8_t {
  forward,  // pass it to the client
  swallow,  // drop it
};

class response_tracker {
 public:
  void push(request entry) {
    if (entry.kind == request_kind::copy_end) {
      // With nothing pending, or while the server skips to Sync, no COPY can start before it: the
      // server ignores it (postgres.c: "Accept but ignore these messages, per protocol spec").
      if (empty() || skipping_) return;
      queue_.push_back(entry);
      return;
    }
    if (entry.kind == request_kind::sync) skipping_ = false;
    queue_.push_back(entry);
    // The server sends its output at a Sync, a Query or a FunctionCall (ReadyForQuery flushes).
    if (entry.kind == request_kind::sync || entry.kind == request_kind::query) flushed_to_ = queue_.size();
  }
  // A Flush went out after everything pushed so far: the server sends their answers now.
  void flush_point() noexcept { flushed_to_ = queue_.size(); }
  // The server owes answers it will send without further input: some request before a Sync, Query
  // or Flush is unanswered. Answers to requests after the last such point stay in the server's
  // buffer (PostgreSQL flushes only then, and at an error), so waiting on the server alone for them
  // would wait for ever.
  bool answer_due() const noexcept { return head_ < flushed_to_; }
  bool empty() const noexcept { return head_ == queue_.size(); }
  std::size_t pending() const noexcept { return queue_.size() - head_; }
  void clear() noexcept {
    queue_.clear();
    head_ = 0;
    flushed_to_ = 0;
    skipping_ = false;
    copy_ended_early_ = false;
  }
  // The server is skipping until Sync: an extended-protocol request failed and no Sync was pushed
  // since. PostgreSQL then ignores every message but Sync (postgres.c: "ignore it if we're skipping
  // till Sync"), a Query, FunctionCall or Flush included, also those sent after sluice saw the error:
  // they get no answer, so they must not be pushed (nothing would ever complete them).
  bool skipping() const noexcept { return skipping_; }
  // The request the next server message answers (the queue must not be empty).
  request_kind front_kind() const noexcept { return queue_[head_].kind; }

  // How many ReadyForQuery messages the client is still owed (one per pending Sync or Query).
  std::size_t ready_for_query_owed() const noexcept {
    std::size_t owed = 0;
    for (std::size_t i = head_; i < queue_.size(); ++i) {
      if (queue_[i].kind == request_kind::sync || queue_[i].kind == request_kind::query) ++owed;
    }
    return owed;
  }

  // The same when the server fails the request at the head instead of answering it (the connection
  // is lost and sluice reports an ErrorResponse in its place): an extended-protocol request failing
  // makes the server skip everything up to the next Sync, so a Query or FunctionCall before that Sync
  // is owed nothing; every Sync and every Query after it is owed its ReadyForQuery.
  std::size_t ready_for_query_owed_after_error() const noexcept {
    std::size_t i = head_;
    if (i < queue_.size() && queue_[i].kind != request_kind::query && queue_[i].kind != request_kind::sync) {
      while (i < queue_.size() && queue_[i].kind != request_kind::sync) ++i;
    }
    std::size_t owed = 0;
    for (; i < queue_.size(); ++i) {
      if (queue_[i].kind == request_kind::sync || queue_[i].kind == request_kind::query) ++owed;
    }
    return owed;
  }

  // Extended-protocol requests are pending after the last Sync: the client is in the middle of a batch
  // whose Sync it has not sent yet.
  bool unsynced_tail() const noexcept {
    for (std::size_t i = queue_.size(); i > head_; --i) {
      const auto kind = queue_[i - 1].kind;
      if (kind == request_kind::copy_end) continue;
      if (kind == request_kind::sync) return false;
      if (kind != request_kind::query) return true;
    }
    return false;
  }

  // The latest CopyInResponse found its CopyDone/CopyFail already sent (pipelined ahead of it): the
  // COPY ends without further client input, so the session is not in copy-in mode.
  bool copy_ended_early() const noexcept { return copy_ended_early_; }

  // Pops synthesized requests at the head (their answers are due now, before anything later) and
  // returns their kinds through `emit`.
  template <class Emit>
  void drain_synthesized(Emit&& emit) {
    while (!empty() && queue_[head_].action == request_action::synthesize) {
      emit(queue_[head_].kind);
      pop();
    }
  }

  // Classifies one server message by its type byte and advances the queue. For an ErrorResponse in
  // the extended protocol the requests up to the next sync are dropped, as the server skips them;
  // `skipped` receives each parse that will not exist on the server (statement_id 0 is the unnamed
  // statement), each client's named Parse the server skipped (client_parse; answered by sluice or
  // not), and each close the server did not run (its statement is still there).
  template <class FailedParse>
  response_verdict on_server_message(char type, FailedParse&& failed_parse) {
    if (empty()) return response_verdict::forward;  // notices, notifications, parameter status
    request& head = queue_[head_];
    switch (type) {
      case '1':  // ParseComplete
      case '2':  // BindComplete
      case '3':  // CloseComplete
      case 'n':  // NoData
      case 's':  // PortalSuspended
        return complete_head();
      case 'T':  // RowDescription: completes a Describe; inside Query/Execute output it does not
        return head.kind == request_kind::describe ? complete_head() : verdict_of(head);
      case 'C':  // CommandComplete
      case 'I':  // EmptyQueryResponse
        return head.kind == request_kind::execute ? complete_head() : verdict_of(head);
      case 'Z':  // ReadyForQuery completes a sync or query
        return complete_head();
      case 'G':  // CopyInResponse: the Syncs sent after the Query or Execute reach a server in copy-in
                 // mode, which ignores them (docs 55.2.6: "The backend will ignore Flush and Sync
                 // messages received during copy-in mode"), up to the CopyDone or CopyFail that ends
                 // it; one the client pipelined ahead is a copy_end entry (copy_ended_early())
        copy_ended_early_ = drop_syncs_in_copy();
        return verdict_of(head);
      case 'E': {  // ErrorResponse
        if (head.kind == request_kind::query || head.kind == request_kind::sync) return response_verdict::forward;
        // Extended protocol: this request failed and the server skips everything up to Sync.
        // The error itself goes to the client even when it answers an injected Parse, so the
        // client learns why its Bind/Describe failed.
        while (!empty() && queue_[head_].kind != request_kind::sync) {
          const request& dropped = queue_[head_];
          if (((dropped.kind == request_kind::parse || dropped.kind == request_kind::close) &&
               dropped.action != request_action::synthesize) ||
              (dropped.kind == request_kind::parse && dropped.client_parse != 0)) {
            failed_parse(dropped);
          }
          pop();
        }
        // No Sync queued: the server skips what comes next too, until one is sent.
        if (empty()) skipping_ = true;
        return response_verdict::forward;
      }
      default:  // DataRow, ParameterDescription, copy messages, notices...: part of the head's answer
        return verdict_of(head);
    }
  }

 private:
  static response_verdict verdict_of(const request& entry) noexcept {
    return entry.action == request_action::swallow ? response_verdict::swallow : response_verdict::forward;
  }
  response_verdict complete_head() noexcept {
    const auto verdict = verdict_of(queue_[head_]);
    pop();
    return verdict;
  }
  // Drops the Syncs after the head up to the first copy_end (and that entry); true when there was one.
  bool drop_syncs_in_copy() noexcept {
    std::size_t kept = head_ + 1;
    std::size_t dropped_before_flush = 0;
    bool ended = false;
    std::size_t i = head_ + 1;
    for (; i < queue_.size() && !ended; ++i) {
      const auto kind = queue_[i].kind;
      if (kind == request_kind::sync || kind == request_kind::copy_end) {
        if (i < flushed_to_) ++dropped_before_flush;
        ended = kind == request_kind::copy_end;
      } else {
        queue_[kept++] = queue_[i];
      }
    }
    for (; i < queue_.size(); ++i) queue_[kept++] = queue_[i];
    queue_.resize(kept);
    flushed_to_ = std::max(flushed_to_ - dropped_before_flush, head_ + 1);
    return ended;
  }

  void pop() noexcept {
    ++head_;
    // A copy_end that reaches the head met no COPY: the server ignored it.
    while (head_ < queue_.size() && queue_[head_].kind == request_kind::copy_end) ++head_;
    if (head_ == queue_.size()) {
      queue_.clear();  // keeps capacity: no allocation once warmed up
      head_ = 0;
      flushed_to_ = 0;
    }
  }

  std::vector<request> queue_;
  std::size_t head_ = 0;
  std::size_t flushed_to_ = 0;  // requests before this index are answered without further input
  bool skipping_ = false;
  bool copy_ended_early_ = false;
};

}  // namespace sluice::router::pg
