"""The week's mechanics as array operations: adoption, channel choice, market clearing, sellers.

Channel index convention: columns 0..J-1 are the storefronts in roster order, column J is offline.
No function here loops over shoppers or sellers; loops run over platforms (a handful) and over
blocks of tens of thousands of shoppers (``shopper_blocks``).
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from sim.core.population import CROSS_BORDER, LOCAL, MSMEs, Shoppers
from sim.schema.config import MSMEConfig, ShopperConfig

if TYPE_CHECKING:
    from sim.core.shopper_pool import ShoppingHelper


@dataclass
class Offer:
    """What each channel looks like to shoppers this week; arrays have one entry per channel (J+1)."""

    brand_utility: np.ndarray
    log_effective_price: np.ndarray  # log(price index x (1 - subsidy))
    log_variety: np.ndarray  # log share of active firms a shopper can buy from there
    discovery: np.ndarray  # content-driven exposure per unit of taste (0 for marketplaces, offline)
    local_share: np.ndarray  # share of last week's sales that went to local producers
    subsidy: np.ndarray  # buyer subsidy, share of list price (0 offline)


# --- shoppers -----------------------------------------------------------------------------------
# Shopper arrays are channel-major, (channels, shoppers); see sim.core.population.


def spread_app_adoption(
    sh: Shoppers,
    launched: np.ndarray,
    innovation: np.ndarray,
    word_of_mouth: np.ndarray,
    rng: np.random.Generator,
) -> None:
    """Bass diffusion on the social network, per week: a shopper who can reach a launched app
    and does not use it yet adopts it with probability p + q x (share of her ties using it),
    combined as independent chances.

    Only those candidates are touched, and the count of each shopper's ties using each app is
    kept up to date from the week's new adopters (through the followers index), so the cost
    falls as apps saturate. Every shopper gets a uniform per launched app whether or not she is a
    candidate: a policy changes who is a candidate (a buyer who follows a seller's link installs
    the app), and a candidate's uniform must not depend on that (common random numbers).
    """
    apps = np.flatnonzero(launched)
    degree = sh.ties.shape[0]
    if sh.n > ONE_BLOCK_UP_TO:  # app by app: one app's temporaries at a time
        for j in apps:
            u = rng.random(sh.n, dtype=np.float32)
            candidates = np.flatnonzero(sh.can_reach[j] & ~sh.adopted[j])
            ties_using = sh.ties_using[j, candidates]
            adopts = _adopts(u[candidates], ties_using, innovation[j], word_of_mouth[j], degree)
            adopt_apps(sh, np.full(np.count_nonzero(adopts), j), candidates[adopts])
        return
    # Up to ONE_BLOCK_UP_TO shoppers, every app at once: numpy's cost per call, not arithmetic, is most
    # of a per-app loop at this size. An app's candidates, ties and adoptions are its own row, so
    # the rows do not interact, and one draw of (apps, shoppers) is the apps' draws in turn: the
    # same numbers as app by app.
    u = rng.random((apps.size, sh.n), dtype=np.float32)
    candidates = sh.can_reach[apps]
    candidates &= ~sh.adopted[apps]
    flat = np.flatnonzero(candidates)  # app by app, shopper by shopper
    row, shoppers = np.divmod(flat, sh.n)
    ties_using = sh.ties_using[apps].reshape(-1)[flat]
    adopts = _adopts(u.reshape(-1)[flat], ties_using, innovation[apps][row], word_of_mouth[apps][row], degree)
    adopt_apps(sh, apps[row[adopts]], shoppers[adopts])


def _adopts(
    u: np.ndarray, ties_using: np.ndarray, innovation: np.ndarray, word_of_mouth: np.ndarray, degree: int
) -> np.ndarray:
    """Which candidates adopt, each with her uniform ``u`` and count of ties using the app: with
    probability p + q x (share of ties using it), combined as independent chances."""
    tie_share = ties_using * np.float32(1.0 / max(degree, 1))
    return u < 1.0 - (1.0 - innovation) * (1.0 - word_of_mouth * tie_share)


def adopt_apps(sh: Shoppers, apps: np.ndarray, shoppers: np.ndarray) -> None:
    """``shoppers`` start using ``apps`` (one app each), which they did not use yet; their
    followers' tie counts follow."""
    sh.adopted[apps, shoppers] = True
    count_new_users(sh, apps, shoppers)


def count_new_users(sh: Shoppers, apps: np.ndarray, shoppers: np.ndarray) -> None:
    """Add the new users ``shoppers`` of ``apps`` (one app each) to their followers' counts of
    ties using it."""
    followers, follower_counts = sh.followers_of(shoppers)
    cells = np.repeat(apps * sh.n, follower_counts) + followers  # into (apps, shoppers), flattened
    counts = np.reshape(sh.ties_using, -1, copy=False)  # raises rather than count into a copy
    # One of the counts' own dtype: numpy's add.at casts a Python int per element, 15 to 50 times
    # slower (measured at 800 to 80,000 followers).
    np.add.at(counts, cells, counts.dtype.type(1))


def channel_utility(sh: Shoppers, offer: Offer, cfg: ShopperConfig) -> np.ndarray:
    """Deterministic utility (channels, shoppers) of every channel for every shopper."""
    base = offer.brand_utility + cfg.variety_weight * offer.log_variety
    f32 = np.float32
    utility = cfg.habit_weight * sh.habit
    utility += base.astype(f32)[:, None]
    utility -= offer.log_effective_price.astype(f32)[:, None] * sh.price_sensitivity[None, :]
    utility += (cfg.discovery_weight * offer.discovery).astype(f32)[:, None] * (sh.discovery_taste[None, :])
    utility += (cfg.local_weight * offer.local_share).astype(f32)[:, None] * (sh.local_preference[None, :])
    return utility


def nested_logit_draw(
    utility: np.ndarray, available: np.ndarray, u: np.ndarray, nest_lambda: float
) -> np.ndarray:
    """Nested-logit choice between offline (last row) and a nest of online storefronts.

    ``utility`` and ``available`` are (channels, choosers). ``nest_lambda`` in (0, 1] is the nest's
    dissimilarity: 1 is a plain multinomial logit; lower values make storefronts closer
    substitutes of each other than of offline, so a new app draws mostly from other apps. One
    uniform per chooser (inverse CDF) keeps choices comparable across scenarios (common random
    numbers).
    """
    f32 = np.float32
    online = _where_else(available[:-1], np.multiply(utility[:-1], f32(1.0 / nest_lambda)), -np.inf)
    top = online.max(axis=0)
    any_online = top > -np.inf
    everyone_online = bool(any_online.all())  # the usual week
    if not everyone_online:
        _where_else(any_online, top, 0.0)
    online -= top
    np.exp(online, out=online)  # within-nest weights, unnormalised
    within_sum = online.sum(axis=0)
    if not everyone_online:
        within_sum += ~any_online  # an empty nest's sum is 1 (0 + 1; the others + 0 exactly)
    inclusive = f32(nest_lambda) * (top + np.log(within_sum))
    with np.errstate(over="ignore"):
        p_online = 1.0 / (1.0 + np.exp(utility[-1] - inclusive))
    if not everyone_online:
        _where_else(any_online, p_online, 0.0)
    # Inverse CDF over storefronts then offline: P(channel <= j) = p_online x cumsum(w)_j / sum(w);
    # the choice is the first channel whose running weight sum exceeds u x sum(w) / p_online, so
    # count the running sums at or below it (a zero-weight channel is never chosen, even at u = 0;
    # with no online chance at all the target is infinite and the choice is offline).
    with np.errstate(divide="ignore", invalid="ignore"):
        target = _where_else(p_online > 0, (u * within_sum / p_online).astype(f32, copy=False), np.inf)
    choice = np.zeros(u.shape[0], dtype=np.int8)
    running = np.zeros(u.shape[0], dtype=f32)
    for row in online:
        running += row
        choice += running <= target
    return choice


def _where_else(keep: np.ndarray, values: np.ndarray, fill: float) -> np.ndarray:
    """``np.where(keep, values, fill)`` for float32 ``values``, in place, by masking the bits:
    numpy's ``where`` with a scalar (or ``copyto`` with ``where=``) takes a slow path that cost
    a tenth of the shoppers' week."""
    mask = np.negative(keep.view(np.int8), dtype=np.int32)  # all bits set where kept
    bits = values.view(np.int32)
    bits &= mask
    fill_bits = np.array(fill, np.float32).view(np.int32)
    if fill_bits:
        np.invert(mask, out=mask)
        mask &= fill_bits
        bits |= mask
    return values


def index_of_first_max(rows: np.ndarray) -> np.ndarray:
    """``rows.argmax(axis=0)`` for a few long rows: a running comparison row by row, which numpy
    does far faster than an arg-reduction across the short axis (ties go to the first row, as
    in ``argmax``)."""
    best = rows[0].copy()
    index = np.zeros(rows.shape[1], dtype=np.intp)
    for k in range(1, rows.shape[0]):
        better = rows[k] > best
        index += better * (k - index)
        np.maximum(best, rows[k], out=best)
    return index


@dataclass
class ShopperWeek:
    demand_idr: np.ndarray  # (J+1,) spend at list prices per channel
    buyers: np.ndarray  # (J+1,) people who bought there this week
    planned_idr: np.ndarray  # (J+1,) of which planned purchases
    impulse_idr: np.ndarray  # (J+1,) of which discovery (impulse) purchases
    lost_discovery_idr: float  # discovery demand that found no open channel
    displaced_idr: float  # planned spend given up this week for earlier discovery purchases


def list_spend_factor(offer: Offer, elasticity: float) -> np.ndarray:
    """(J+1,) list-price spend per IDR of budget at each channel.

    Out of pocket a shopper spends ``budget x P^(1 - elasticity)`` where P is the channel's price
    index after subsidy; sellers receive that grossed up by the subsidy. At elasticity 1 the
    out-of-pocket spend is fixed and a subsidy is re-spent in full at list prices; above 1 a
    cheaper channel also sells more.
    """
    return np.exp(offer.log_effective_price * (1.0 - elasticity)) / (1.0 - offer.subsidy)


# Shoppers per block of the week's choices: a block's temporaries are reused, where whole-population
# arrays of millions of shoppers would stream from memory a dozen times a week; larger blocks pay
# Python's and the lock's cost per array operation (a hundred a block) less often but hold more
# memory. Measured on 2 cores at 1M shoppers over 40 weeks: 2^15 took 7.1 s and peaked at 393 MB,
# 2^16 6.8 s and 402 MB (425 MB over a whole run), 2^17 7.1 s and 50 MB more. Every step per shopper
# is elementwise or across channels, so blocks change no number; the sums over shoppers are taken
# over each SHOPPER_BLOCK shoppers (a whole block's too) and added in shopper order
# (``BlockSums``), so neither do threads or processes.
SHOPPER_BLOCK = 1 << 15
# Up to this many shoppers are shopped as one block by one thread: a few blocks on two threads
# spend more on the lock than they gain (100k shoppers ran in 6.5-7.7 s as two to four blocks on
# two threads, 5.1 s as one block).
ONE_BLOCK_UP_TO = 1 << 17
# Blocks are shopped by this many threads at once (numpy releases the GIL inside array
# operations); a block's shoppers touch only their own rows, and the followers' counts of ties
# using an app (which no block reads) are updated after all blocks, so threads change no number.
SHOPPER_THREADS = min(
    2, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
)


# What every block of a week's shoppers shares, in ``_shop_block``'s order: the offer, the
# rules' transact, leak and steer shares, the steering partners, the open marketplaces, the
# spending index and factor, and the shoppers' config.
type ShoppingWeek = tuple[
    Offer, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, float, np.ndarray, ShopperConfig
]


def shopper_blocks(n: int) -> list[slice]:
    """The blocks the week's ``n`` shoppers are shopped in: one up to ``ONE_BLOCK_UP_TO``
    shoppers, else blocks of ``SHOPPER_BLOCK``."""
    size = n if n <= ONE_BLOCK_UP_TO else SHOPPER_BLOCK
    return [slice(start, min(start + size, n)) for start in range(0, n, max(size, 1))]


@dataclass
class BlockSums:
    """What a block of shoppers did this week, summed over each ``SHOPPER_BLOCK`` of its
    shoppers (rows: these chunks in order; per agent, before weighting), and the apps they
    installed by following a link, as (app, shoppers). A block returns sums rather than
    per-shopper rows, so nothing of a shopper's week outlives it and a helper process sends back
    a few numbers; the chunks' sums are added in shopper order (``add_in_order``), so the week's
    totals are the same however the shoppers were split into blocks and shared out."""

    planned_idr: np.ndarray  # (chunks, J+1) list-price planned spend per channel
    buyers: np.ndarray  # (chunks, J+1) shoppers who shopped and spent something, by planned channel
    impulse_idr: np.ndarray  # (chunks, J+1) list-price discovery spend bought per channel
    impulse_buyers: np.ndarray  # (chunks, J+1) discovery buyers not counted by their planned purchase
    lost_idr: np.ndarray  # (chunks,) discovery spend that found no open channel
    displaced_idr: np.ndarray  # (chunks,) list-price planned spend given up to earlier discovery
    installs: list[tuple[int, np.ndarray]]


def chunk_sums(values: np.ndarray, channel: np.ndarray | None = None, n_channels: int = 0) -> np.ndarray:
    """Sums of a block's ``values`` over each ``SHOPPER_BLOCK`` of its shoppers: (chunks,), or
    (chunks, n_channels) by ``channel``. A block starts at a multiple of ``SHOPPER_BLOCK``
    (``shopper_blocks``), so the chunks are the same however the shoppers are split into blocks."""
    if values.shape[0] <= SHOPPER_BLOCK:  # one chunk, the usual week below a million shoppers
        if channel is None:
            return values.sum(keepdims=True)
        return np.bincount(channel, weights=values, minlength=n_channels)[None, :]
    chunks = [slice(s, s + SHOPPER_BLOCK) for s in range(0, values.shape[0], SHOPPER_BLOCK)]
    if channel is None:
        return np.array([values[c].sum() for c in chunks])
    return np.stack([np.bincount(channel[c], weights=values[c], minlength=n_channels) for c in chunks])


def add_in_order(parts: list[np.ndarray]) -> np.ndarray:
    """The chunks' sums of every block (in shopper order) added one after another: one fixed
    order of additions, whatever the blocks; a single chunk's sums are returned as they are."""
    chunks = np.concatenate(parts)
    total = chunks[0].copy()
    for chunk in chunks[1:]:
        total += chunk
    return total


def shoppers_shop(
    sh: Shoppers,
    offer: Offer,
    transact_share: np.ndarray,
    leak_share: np.ndarray,
    steer_share: np.ndarray,
    steer_to: np.ndarray,
    is_social: np.ndarray,
    spend_index: float,
    cfg: ShopperConfig,
    draws: dict[str, np.ndarray],
    helper: ShoppingHelper | None = None,
) -> ShopperWeek:
    """The week's planned and discovery purchases of every shopper.

    Budgets are in IDR of the start date times ``spend_index`` (the dated income and price path).
    A discovery purchase takes ``impulse_displacement`` of its out-of-pocket cost from the
    shopper's later planned spending (the same household budget): it is carried as
    ``sh.deferred_idr`` and paid down by her next planned purchases. Shoppers are taken in blocks
    (``shopper_blocks``, ``_shop_block``); the week's totals are sums over all of them. With a
    ``helper`` (``sim.core.shopper_pool``) every other block is shopped in its process, over the
    shared arrays it holds.
    """
    factor = list_spend_factor(offer, cfg.spend_price_elasticity)
    open_marketplace = ~is_social & (transact_share > 0)
    blocks = shopper_blocks(sh.n)
    if helper is not None:
        draws = helper.load(draws)
    week: ShoppingWeek = (
        offer,
        transact_share,
        leak_share,
        steer_share,
        steer_to,
        open_marketplace,
        spend_index,
        factor,
        cfg,
    )

    def shop(rows: slice) -> BlockSums:
        return _shop_block(sh, rows, *week, draws)

    sums: list[BlockSums]
    if helper is not None and len(blocks) > 1:
        helper.pool.submit(blocks[1::2], week)
        try:
            mine = [shop(rows) for rows in blocks[0::2]]
        finally:  # the helper's answer is taken even if this process's blocks failed
            theirs = helper.pool.result()
        sums = [theirs[i // 2] if i % 2 else mine[i // 2] for i in range(len(blocks))]  # in order
    elif SHOPPER_THREADS > 1 and len(blocks) > 1:
        with ThreadPoolExecutor(SHOPPER_THREADS) as pool:
            sums = list(pool.map(shop, blocks))
    else:
        sums = [shop(rows) for rows in blocks]
    installs = [(j, shoppers) for block in sums for j, shoppers in block.installs]
    if installs:
        apps = np.concatenate([np.full(shoppers.size, j) for j, shoppers in installs])
        count_new_users(sh, apps, np.concatenate([shoppers for _, shoppers in installs]))
    planned_idr = add_in_order([b.planned_idr for b in sums])
    impulse_idr = add_in_order([b.impulse_idr for b in sums])
    buyers = add_in_order([b.buyers for b in sums]) + add_in_order([b.impulse_buyers for b in sums])
    w = sh.weight
    return ShopperWeek(
        demand_idr=w * (planned_idr + impulse_idr),
        buyers=w * buyers,
        planned_idr=w * planned_idr,
        impulse_idr=w * impulse_idr,
        lost_discovery_idr=w * float(add_in_order([b.lost_idr for b in sums])),
        displaced_idr=w * float(add_in_order([b.displaced_idr for b in sums])),
    )


def _shop_block(
    sh: Shoppers,
    rows: slice,
    offer: Offer,
    transact_share: np.ndarray,
    leak_share: np.ndarray,
    steer_share: np.ndarray,
    steer_to: np.ndarray,
    open_marketplace: np.ndarray,
    spend_index: float,
    factor: np.ndarray,
    cfg: ShopperConfig,
    draws: dict[str, np.ndarray],
) -> BlockSums:
    """Planned and discovery purchases of the shoppers ``rows``, summed (``BlockSums``); their habits,
    deferred spending and apps are updated in place (the apps installed by following a link are
    in the sums, for their followers' counts: ``count_new_users``)."""
    block = sh.block(rows)
    n_platforms = offer.brand_utility.shape[0] - 1
    # A shopper may check out on an app she uses whose checkout is open to her: a banned app stays
    # open only to the evading share (1 - compliance) of shoppers.
    available = np.ones((n_platforms + 1, block.n), dtype=bool)
    np.logical_and(
        block.adopted, block.evade_draw[None, :] < transact_share[:, None], out=available[:n_platforms]
    )
    utility = channel_utility(block, offer, cfg)

    shops = draws["shop"][rows] < block.shop_prob
    choice = nested_logit_draw(utility, available, draws["choice"][rows], cfg.online_nest_lambda)
    budget = block.budget.astype(np.float64) * spend_index
    paid_share = (1.0 - offer.subsidy)[choice]  # out of pocket per IDR at list price
    out_of_pocket = budget * (factor * (1.0 - offer.subsidy))[choice] * shops
    paid_down = np.minimum(out_of_pocket, block.deferred_idr)
    block.deferred_idr -= paid_down
    planned_spend = (out_of_pocket - paid_down) / paid_share
    n_channels = n_platforms + 1
    planned_idr = chunk_sums(planned_spend, choice, n_channels)
    buyers = chunk_sums(shops & (planned_spend > 0), choice, n_channels)
    displaced_idr = chunk_sums(paid_down / paid_share)
    update_habit(block, shops, choice, cfg.habit_learning_rate)
    impulse_idr, impulse_buyers, lost_idr, installs = discovery_purchases(
        sh,
        rows,
        utility,
        available,
        choice,
        shops,
        offer,
        leak_share,
        steer_share,
        steer_to,
        open_marketplace,
        budget,
        factor,
        cfg,
        draws,
    )
    return BlockSums(planned_idr, buyers, impulse_idr, impulse_buyers, lost_idr, displaced_idr, installs)


def discovery_purchases(
    sh: Shoppers,
    rows: slice,
    utility: np.ndarray,
    available: np.ndarray,
    choice: np.ndarray,
    shops: np.ndarray,
    offer: Offer,
    leak_share: np.ndarray,
    steer_share: np.ndarray,
    steer_to: np.ndarray,
    open_marketplace: np.ndarray,
    budget: np.ndarray,
    factor: np.ndarray,
    cfg: ShopperConfig,
    draws: dict[str, np.ndarray],
) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[tuple[int, np.ndarray]]]:
    """Impulse purchases created by content (social apps, and marketplaces' live and video), for
    the shoppers ``rows`` (``utility`` to ``budget`` are theirs).

    The content comes from the most discovery-rich app the shopper uses. If that app's checkout is
    closed to her, a share ``leak_share`` follows the seller's link to the open marketplace she
    likes best among those she uses; one who uses none installs the one she likes best (a link
    opens the shop in its app) and uses it from then on. The rest is lost. After legal close an
    operator group may route a share ``steer_share[j]`` of storefront j's discovery sales to its
    partner's checkout (``steer_to[j]``) for shoppers holding both. Bought purchases add their
    displaced share to ``sh.deferred_idr``. Returns, as ``chunk_sums`` (per agent, before
    weighting), the discovery spend bought per channel, the buyers there not counted by their
    planned purchase, the spend lost; and the apps installed by following a link, as
    (app, shoppers): they use them now, and their followers' tie counts are the caller's to update.
    """
    installs: list[tuple[int, np.ndarray]] = []
    n_channels = offer.brand_utility.shape[0]
    sources = np.flatnonzero(offer.discovery[:-1] > 0)
    if sources.size == 0:
        nothing = np.zeros(utility.shape[1])
        by_channel = chunk_sums(nothing, np.zeros(nothing.shape, np.intp), n_channels)
        return by_channel, by_channel.copy(), chunk_sums(nothing), installs
    block = sh.block(rows)
    reach = block.adopted[sources] * offer.discovery[sources][:, None].astype(np.float32)
    exposure = reach.sum(axis=0)
    source = sources[index_of_first_max(reach)]
    direct = np.zeros(block.n, dtype=bool)
    for j in sources:
        direct |= (source == j) & available[j]
    impulse = draws["impulse"][rows] < np.minimum(cfg.impulse_rate * exposure * block.discovery_taste, 1.0)
    destination = source.copy()
    bought = impulse & direct
    # Blocked discovery demand: a share follows the seller's link to a marketplace.
    blocked_here = impulse & ~direct
    if blocked_here.any():  # the usual week before a ban: nothing is blocked, no leak to look up
        blocked_here &= draws["leak"][rows] < leak_share[source]
    blocked = np.flatnonzero(blocked_here)
    marketplaces = np.flatnonzero(open_marketplace)
    if blocked.size and marketplaces.size:
        uses = block.adopted[marketplaces][:, blocked]
        uses[:, ~uses.any(axis=0)] = True
        scores = np.where(uses, utility[marketplaces][:, blocked], -np.inf)
        destination[blocked] = marketplaces[scores.argmax(axis=0)]
        bought[blocked] = True
        for j in marketplaces:
            newcomers = blocked[destination[blocked] == j]
            newcomers = newcomers[~block.adopted[j, newcomers]]
            block.adopted[j, newcomers] = True
            installs.append((int(j), rows.start + newcomers))
    steer = draws["steer"][rows]
    for j in np.flatnonzero(steer_share > 0):
        partner = int(steer_to[j])
        steered = bought & (destination == j) & available[partner] & (steer < steer_share[j])
        destination[steered] = partner
    spend = cfg.impulse_spend_share * budget * factor[destination]
    impulse_idr = chunk_sums(spend * bought, destination, n_channels)
    impulse_buyers = chunk_sums(bought & ~(shops & (choice == destination)), destination, n_channels)
    lost_idr = chunk_sums(spend * (impulse & ~bought))
    block.deferred_idr += cfg.impulse_displacement * spend * bought * (1.0 - offer.subsidy)[destination]
    return impulse_idr, impulse_buyers, lost_idr, installs


def update_habit(sh: Shoppers, shops: np.ndarray, choice: np.ndarray, rate: float) -> None:
    """Habit stock: exponential memory of the channels a shopper chose when she shopped."""
    sh.habit *= np.array([1.0, 1.0 - rate], np.float32).take(shops.view(np.uint8))[None, :]
    # Adding 0 to the others leaves them as they are: one pass per channel, no scattered writes.
    learned = np.empty(shops.shape[0], dtype=np.float32)
    for channel, stock in enumerate(sh.habit):
        np.multiply(shops & (choice == channel), np.float32(rate), out=learned)
        stock += learned


# --- market clearing ----------------------------------------------------------------------------


@dataclass
class Clearing:
    sold_idr: np.ndarray  # (M, J+1) sales at list prices per seller and channel
    gmv_idr: np.ndarray  # (J+1,) sales per channel, virtual goods included
    unmet_idr: float  # demand that met no seller with capacity left
    virtual_idr: np.ndarray  # (J+1,) of gmv_idr: virtual goods, sold by no seller


def split_virtual_goods(demand_idr: np.ndarray, virtual_share: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(goods, virtual) parts of each channel's demand: a storefront's share of virtual goods
    (phone credit, bills, vouchers) is served by the platform and its billers, not by sellers."""
    virtual = demand_idr * np.append(virtual_share, 0.0)
    return demand_idr - virtual, virtual


def seller_attractiveness(ms: MSMEs, cfg: MSMEConfig) -> np.ndarray:
    """How strongly a channel's ranking and buyers favour each agent's firms (all of them)."""
    return ms.weight * ms.scale * np.exp(ms.quality) * np.power(ms.price, -cfg.price_elasticity)


def eligible_sellers(ms: MSMEs, floor_usd: float, pool_with: np.ndarray) -> np.ndarray:
    """(M, J+1) share of each agent's firms that can sell where: active, listed there and not
    blocked by the cross-border floor; offline needs a stall. A storefront whose checkout runs on
    a partner's back end with a shared seller pool (``pool_with[j]`` = partner, else -1) also sells
    the partner's listed firms."""
    n_platforms = ms.listed_share.shape[1]
    can_sell = ms.active & ~(
        (ms.origin == CROSS_BORDER) & (ms.unit_price_usd < floor_usd) & ~ms.positive_listed
    )
    listed = ms.listed_share
    eligible = np.empty((ms.n, n_platforms + 1), order="F")  # column-major, as MSMEs' arrays
    eligible[:, :n_platforms] = listed * can_sell[:, None]
    for k in np.flatnonzero(pool_with >= 0):
        eligible[:, k] = np.maximum(listed[:, k], listed[:, pool_with[k]]) * can_sell
    eligible[:, n_platforms] = ms.active & ms.has_stall
    return eligible


def clear_market(
    ms: MSMEs,
    demand_idr: np.ndarray,
    eligible: np.ndarray,
    local_boost: np.ndarray,
    cfg: MSMEConfig,
    virtual_share: np.ndarray | None = None,
) -> Clearing:
    """Split each channel's demand for goods over its sellers by attractiveness, then ration by
    capacity; the storefronts' virtual goods (``virtual_share``, J entries) reach no seller."""
    if virtual_share is None:
        virtual_share = np.zeros(demand_idr.shape[0] - 1)
    demand_idr, virtual = split_virtual_goods(demand_idr, virtual_share)
    pull = eligible * seller_attractiveness(ms, cfg)[:, None]
    if (local_boost != 0).any():  # a factor of 1 everywhere changes nothing: skipped
        boost_by_channel = np.append(local_boost, 0.0)  # no ranking policy offline
        pull *= 1.0 + boost_by_channel[None, :] * (ms.origin == LOCAL)[:, None]
    total_pull = pull.sum(axis=0)
    sold = np.divide(pull, total_pull, out=np.zeros_like(pull), where=total_pull > 0)
    sold *= demand_idr[None, :]
    # Two rounds: what capacity-bound sellers cannot serve goes to those with room left, in
    # proportion to the same attractiveness; what still finds no seller is unmet.
    for _ in range(2):
        fill = _fill_rate(ms.capacity_idr, sold.sum(axis=1))
        leftover = (sold * (1.0 - fill)[:, None]).sum(axis=0)
        sold *= fill[:, None]
        room = pull * (fill >= 1.0)[:, None]
        room_total = room.sum(axis=0)
        sold += (
            np.divide(room, room_total, out=np.zeros_like(room), where=room_total > 0) * (leftover[None, :])
        )
    sold *= _fill_rate(ms.capacity_idr, sold.sum(axis=1))[:, None]
    goods_sold = sold.sum(axis=0)
    return Clearing(
        sold_idr=sold,
        gmv_idr=goods_sold + virtual,
        unmet_idr=float(demand_idr.sum() - goods_sold.sum()),
        virtual_idr=virtual,
    )


def _fill_rate(capacity_idr: np.ndarray, wanted_idr: np.ndarray) -> np.ndarray:
    return np.minimum(
        1.0, np.divide(capacity_idr, wanted_idr, out=np.ones_like(wanted_idr), where=wanted_idr > 0)
    )


@dataclass
class Ledger:
    """The week's money flows per channel, IDR; buyer_paid + subsidy == receipts + commission."""

    buyer_paid: np.ndarray
    subsidy: np.ndarray
    seller_receipts: np.ndarray
    commission: np.ndarray


def settle_payments(gmv_idr: np.ndarray, subsidy_rate: np.ndarray, commission_rate: np.ndarray) -> Ledger:
    subsidy = gmv_idr[:-1] * subsidy_rate
    commission = gmv_idr[:-1] * commission_rate
    zero = np.zeros(1)
    return Ledger(
        buyer_paid=gmv_idr - np.concatenate([subsidy, zero]),
        subsidy=np.concatenate([subsidy, zero]),
        seller_receipts=gmv_idr - np.concatenate([commission, zero]),
        commission=np.concatenate([commission, zero]),
    )


# --- sellers ------------------------------------------------------------------------------------


def channel_price_markup(commission_rate: np.ndarray, cfg: MSMEConfig) -> np.ndarray:
    """(J+1,) factor on sellers' prices per channel: storefront fees passed into prices."""
    return np.append(1.0 + cfg.commission_pass_through * commission_rate, 1.0)


def listing_cost_idr(ms: MSMEs, shared_backend: np.ndarray, cfg: MSMEConfig) -> np.ndarray:
    """(M, J) weekly cost of the storefronts an agent's firms run. A storefront whose checkout runs
    on a partner's back end costs nothing extra to firms already listed on the partner."""
    listed = ms.listed_share.astype(np.float64)
    for j in np.flatnonzero(shared_backend >= 0):
        listed[:, j] = np.maximum(listed[:, j] - ms.listed_share[:, shared_backend[j]], 0.0)
    return listed * (ms.capacity_idr[:, None] * cfg.listing_cost_share)


def book_profits(
    ms: MSMEs, sold_idr: np.ndarray, commission_rate: np.ndarray, shared_backend: np.ndarray, cfg: MSMEConfig
) -> np.ndarray:
    """Update cash and per-storefront profit memory; return each agent's weekly profit, IDR.

    Storefront sales are at list prices that include the passed-through fee, so the gross margin
    on storefront j is ``1 - cost / (price x markup_j) - commission_j``."""
    n_platforms = ms.listed_share.shape[1]
    markup = channel_price_markup(commission_rate, cfg)
    margin = (1.0 - ms.unit_cost[None, :] / (markup[:, None] * ms.price[None, :])).T
    online = sold_idr[:, :n_platforms]
    storefront_profit = online * (margin[:, :n_platforms] - commission_rate[None, :]) - listing_cost_idr(
        ms, shared_backend, cfg
    )
    offline_profit = sold_idr[:, n_platforms] * margin[:, n_platforms] - (
        ms.has_stall * ms.capacity_idr * cfg.stall_cost_share
    )
    a = cfg.profit_memory
    ms.profit_ma_idr[:] = (1 - a) * ms.profit_ma_idr + a * storefront_profit
    _where_else(ms.listed_share > 0, ms.profit_ma_idr, 0.0)  # no memory where not listed
    profit = np.where(ms.active, storefront_profit.sum(axis=1) + offline_profit, 0.0)
    ms.cash_idr += profit
    return profit


def adjust_prices_and_capacity(ms: MSMEs, sold_total_idr: np.ndarray, cfg: MSMEConfig) -> None:
    """Tight capacity raises the markup and, more slowly, the capacity; idle capacity does the
    reverse. The markup stays within [min_markup, max_markup] over unit cost."""
    gap = sold_total_idr / ms.capacity_idr - cfg.target_utilisation
    markup = ms.price / ms.unit_cost - 1.0 + cfg.price_adjust_rate * gap
    ms.price[:] = ms.unit_cost * (1.0 + np.clip(markup, cfg.min_markup, cfg.max_markup))
    ms.capacity_idr *= 1.0 + cfg.capacity_adjust_rate * np.clip(gap, -1.0, 1.0)


def update_listings(
    ms: MSMEs,
    demand_idr: np.ndarray,
    open_for_sellers: np.ndarray,
    affinity: np.ndarray,
    n_categories: int,
    cfg: MSMEConfig,
) -> None:
    """Firms leave storefronts that lose money and join those where buyers' demand per seller is
    high relative to the online market (the buyers they can reach: the cross-side network effect;
    a new storefront with buyers and few sellers pulls hard), more readily where peers of their
    category already sell (learning from peers) and where their origin's goods fit
    (``affinity[origin, j]``). Shares of an agent's firms move by the expected flows, so an agent
    that stands for thousands of firms changes its listings smoothly."""
    leaving = (ms.profit_ma_idr < 0) * cfg.leave_rate  # where() with scalars is numpy's slow path
    ms.listed_share -= (ms.listed_share * leaving).astype(np.float32)
    active = ms.weight * ms.active
    listed_firms = active @ ms.listed_share
    per_seller = demand_idr / np.maximum(listed_firms, 1.0)
    market_per_seller = demand_idr.sum() / max(listed_firms.sum(), 1.0)
    pull_of_buyers = (
        np.minimum(per_seller / market_per_seller, 10.0)
        if market_per_seller > 0
        else np.zeros_like(per_seller)
    )
    active_weight = np.bincount(ms.category, weights=active, minlength=n_categories)
    peers = np.stack(
        [
            np.bincount(ms.category, weights=active * ms.listed_share[:, j], minlength=n_categories)
            for j in range(ms.listed_share.shape[1])
        ],
        1,
    )
    peer_share = peers / np.maximum(active_weight, 1e-12)[:, None]
    # The join rate depends on the agent only through its category and origin: computed once per
    # (category, origin, storefront) and looked up, the same operations on the same numbers.
    peer_pull = (0.05 + 0.95 * peer_share) ** cfg.peer_weight
    rate = cfg.join_rate * pull_of_buyers[None, :] * peer_pull
    by_kind = np.minimum(rate[:, None, :] * affinity[None, :, :], 1.0)  # (category, origin, storefront)
    kind = ms.category.astype(np.intp) * by_kind.shape[1] + ms.origin
    # Gathered storefront by storefront into the sellers' column-major layout.
    join_prob = by_kind.reshape(-1, by_kind.shape[2]).T[:, kind].T
    join_prob *= ms.active[:, None]
    join_prob[:, ~open_for_sellers] = 0.0  # whole columns: contiguous in the sellers' layout
    ms.listed_share += ((1.0 - ms.listed_share) * join_prob).astype(np.float32)
    # A trace of firms is no listing: below one firm in a thousand the storefront is dropped.
    ms.listed_share[ms.listed_share < 1e-3] = 0.0


def exit_threshold_idr(ms: MSMEs, cfg: MSMEConfig) -> np.ndarray:
    """Cash below minus this many IDR ends the agent's firms: sustained losses, counted in weeks
    of the fixed costs the firms actually carry (a stall only if they have one, and at least one
    storefront's worth)."""
    storefronts = np.maximum(ms.listed_share.sum(axis=1), 1.0)
    return (
        cfg.exit_weeks_of_cost
        * ms.capacity_idr
        * (cfg.stall_cost_share * ms.has_stall + cfg.listing_cost_share * storefronts)
    )


def find_exits(ms: MSMEs, cfg: MSMEConfig) -> np.ndarray:
    """Agents that exit this week: cash below the exit rule, or no channel left to sell through.
    Large firms are a fixed set (a few thousand brands), outside MSME entry and exit."""
    broke = ms.cash_idr < -exit_threshold_idr(ms, cfg)
    no_channel = ~ms.has_stall & ~(ms.listed_share > 0).any(axis=1) & (ms.weeks_active > 4)
    return np.flatnonzero(ms.active & ~ms.large & (broke | no_channel))
