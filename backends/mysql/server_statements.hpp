// The prepared statements one MySQL server connection holds, by sluice's statement-text id
// (worker::statement_id): the server's own statement id, its parameter count and the parameter types last
// sent to it. Bounded like PostgreSQL's (pool.max_prepared_statements): past it, the least recently used
// is forgotten and its COM_STMT_CLOSE is owed to the server. Sans-IO, std only.
#pragma once

#include <cstdint>
#include <optional>
#include <unordered_map>
#include <vector>

#include "backends/pg/prepared_cache.hpp"

namespace sluice::backends::mysql {

struct server_statement {
  std::uint32_t server_id = 0;  // what COM_STMT_EXECUTE names on this connection
  std::uint16_t num_params = 0;
  // The parameter types (2 bytes each) this connection last received for it: an execute that binds none
  // (new-params-bound = 0) relies on them, so a client's types learnt on another connection are sent
  // again when these differ. Empty: none sent yet.
  std::vector<std::uint8_t> types_sent;
};

class server_statements {
 public:
  // Marks `text_id` used now; nullptr when this connection has not prepared it (or forgot it).
  server_statement* find(std::uint64_t text_id) {
    const auto found = statements_.find(text_id);
    if (found == statements_.end()) return nullptr;
    order_.touch(text_id);
    return &found->second;
  }

  // Records a statement the server prepared. Past the capacity the least recently used is forgotten and
  // its server id is owed a COM_STMT_CLOSE (take_owed_closes).
  server_statement& insert(std::uint64_t text_id, std::uint32_t server_id, std::uint16_t num_params) {
    if (auto found = statements_.find(text_id); found != statements_.end()) {
      // Prepared again (a client's own COM_STMT_PREPARE of a known text): the newer id wins, the older
      // one is closed.
      owed_closes_.push_back(found->second.server_id);
      order_.touch(text_id);
      found->second = {server_id, num_params, {}};
      return found->second;
    }
    if (const auto evicted = order_.insert(text_id); evicted != 0) {
      if (auto gone = statements_.find(evicted); gone != statements_.end()) {
        owed_closes_.push_back(gone->second.server_id);
        statements_.erase(gone);
      }
    }
    return statements_[text_id] = server_statement{server_id, num_params, {}};
  }

  // The server ids forgotten since the last call: the caller sends each a COM_STMT_CLOSE (no answer)
  // before its next command on this connection.
  std::vector<std::uint32_t>& owed_closes() noexcept { return owed_closes_; }

  void set_capacity(std::size_t capacity) noexcept { order_.set_capacity(capacity); }
  std::size_t size() const noexcept { return statements_.size(); }

 private:
  pg::prepared_cache order_;  // protocol-neutral LRU of ids, despite its folder
  std::unordered_map<std::uint64_t, server_statement> statements_;
  std::vector<std::uint32_t> owed_closes_;
};

}  // namespace sluice::backends::mysql
