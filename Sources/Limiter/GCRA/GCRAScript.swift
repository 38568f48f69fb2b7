/// The Redis Lua script that decides a ``GCRABatch`` atomically (README, "The Redis script").
///
/// Contract:
/// - `KEYS`: the distinct bucket keys of the batch (see ``RedisBucketKey``).
/// - `ARGV[2i-1]`, `ARGV[2i]` for each key `i`: emission interval `T` and burst tolerance `τ`, µs.
/// - then per check, in order: the number of enforced spends `n` and of shadow spends `m`,
///   followed by `n + m` pairs of a 1-based key index and the cost spent from it. (Rules carry
///   their own cost, so the cost is per bucket.)
/// - `now` comes from `TIME` in microseconds; one `MGET` reads every TAT; checks are applied in
///   order to the values in the script; only keys of allowed checks are written, once, with
///   `SET key <tat> PX <ms until full again, at least 1>`; denials write nothing.
/// - The shadow spends of an allowed check are decided one by one after its enforced spends,
///   each spending only when its bucket has room; a denied check decides none of them.
/// - A stored value that is not a decimal integer, or a TAT beyond `now + τ + T`, is a damaged
///   bucket: it counts as empty (`now + τ + T`, so the request is limited) and is written back
///   as such, allowed or not.
/// - returns a flat array: per check five integers, allowed (0 or 1), remaining (of the limiting
///   bucket), retry-after µs, reset µs (until the limiting bucket is full again) and the 0-based
///   position in the check of the limiting bucket (the one with the fewest tokens left, or when
///   denied the one with the longest retry-after, the first on ties), so that responses can name
///   the rule; then one integer per shadow spend (1 spent, 0 not). After the checks: the number
///   of damaged keys, then their 0-based indices.
///
/// Arithmetic is exact: Lua numbers are doubles, exact for integers below 2^53. Every duration
/// is computed relative to `now` and stays within `2W` for a burst window `W` ≤
/// ``RuleValueBounds/maximumBurstWindowMicroseconds`` (checked here too), so below 2^53; only a
/// written TAT adds `now` (see ``RuleValueBounds`` for the derivation). Quotients are corrected
/// after `math.floor`, and integers are written with `string.format('%d')` so that `SET` never
/// stores an exponent.
public enum GCRAScript {
    /// The script source.
    public static let source: String = #"""
        if redis.replicate_commands then redis.replicate_commands() end
        local time = redis.call('TIME')
        local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
        local maxwindow = \#(RuleValueBounds.maximumBurstWindowMicroseconds)
        local maxspend = 4503599627370496
        local nkeys = #KEYS
        local function idiv(a, b)
          local q = math.floor(a / b)
          if q * b > a then q = q - 1 elseif (q + 1) * b <= a then q = q + 1 end
          return q
        end
        local function whole(x) return x and x == math.floor(x) end
        local interval, limit, ahead, dirty, damaged = {}, {}, {}, {}, {}
        for i = 1, nkeys do
          interval[i] = tonumber(ARGV[2 * i - 1])
          local tolerance = tonumber(ARGV[2 * i])
          if not whole(interval[i]) or interval[i] < 1 or not whole(tolerance) or tolerance < 0
            or tolerance + interval[i] > maxwindow then
            return redis.error_reply('ERR sidecar gcra: bad parameters for key ' .. i)
          end
          limit[i] = tolerance + interval[i]
          ahead[i] = 0
        end
        if nkeys > 0 then
          local values = redis.call('MGET', unpack(KEYS))
          for i = 1, nkeys do
            local value = values[i]
            if value then
              local tat = nil
              if #value <= 16 and string.match(value, '^%d+$') then tat = tonumber(value) end
              if tat == nil or tat - now > limit[i] then
                ahead[i] = limit[i]
                dirty[i] = true
                damaged[#damaged + 1] = i - 1
              elseif tat > now then
                ahead[i] = tat - now
              end
            end
          end
        end
        local results = {}
        local pos = 2 * nkeys + 1
        local nargs = #ARGV
        local function spend()
          local k = tonumber(ARGV[pos])
          local c = tonumber(ARGV[pos + 1])
          if not whole(k) or not interval[k] or not whole(c) or c < 0 or c * interval[k] > maxspend then
            return nil
          end
          pos = pos + 2
          return k, c
        end
        while pos <= nargs do
          local n = tonumber(ARGV[pos])
          local m = tonumber(ARGV[pos + 1])
          if not whole(n) or not whole(m) or n < 0 or m < 0 or pos + 1 + 2 * (n + m) > nargs then
            return redis.error_reply('ERR sidecar gcra: bad check at argument ' .. pos)
          end
          pos = pos + 2
          local idx, after, left, retry, reset = {}, {}, {}, {}, {}
          local allowed, denying, fewest = true, 1, 1
          for j = 1, n do
            local k, c = spend()
            if not k then
              return redis.error_reply('ERR sidecar gcra: bad key index or cost at argument ' .. pos)
            end
            idx[j] = k
            local a = ahead[k] + c * interval[k]
            if a <= limit[k] then
              after[j], left[j], retry[j], reset[j] = a, idiv(limit[k] - a, interval[k]), 0, a
            else
              left[j], retry[j], reset[j] = idiv(limit[k] - ahead[k], interval[k]), a - limit[k], ahead[k]
              if allowed or retry[j] > retry[denying] then
                allowed = false
                denying = j
              end
            end
            if left[j] < left[fewest] then fewest = j end
          end
          local limiting = allowed and fewest or denying
          results[#results + 1] = allowed and 1 or 0
          results[#results + 1] = left[limiting] or 0
          results[#results + 1] = retry[limiting] or 0
          results[#results + 1] = reset[limiting] or 0
          results[#results + 1] = limiting - 1
          if allowed then
            for j = 1, n do
              ahead[idx[j]] = after[j]
              dirty[idx[j]] = true
            end
          end
          for _ = 1, m do
            local k, c = spend()
            if not k then
              return redis.error_reply('ERR sidecar gcra: bad key index or cost at argument ' .. pos)
            end
            local spent = 0
            if allowed and ahead[k] + c * interval[k] <= limit[k] then
              ahead[k] = ahead[k] + c * interval[k]
              dirty[k] = true
              spent = 1
            end
            results[#results + 1] = spent
          end
        end
        results[#results + 1] = #damaged
        for _, i in ipairs(damaged) do results[#results + 1] = i end
        for i = 1, nkeys do
          if dirty[i] then
            local ms = idiv(ahead[i] + 999, 1000)
            if ms < 1 then ms = 1 end
            redis.call('SET', KEYS[i], string.format('%d', now + ahead[i]), 'PX', string.format('%d', ms))
          end
        end
        return results
        """#

    /// The SHA1 of ``source`` in lower-case hex, as `EVALSHA` and `SCRIPT LOAD` name it.
    public static let sha1: String = SHA1Hex.of(Array(source.utf8))
}
