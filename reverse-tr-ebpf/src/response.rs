//! Building a response to the client (§7).

use reverse_tr_common::{Outcome, Response};

use crate::{frame::Frame, parse::Packet};

/// Writes into `frame` the response with `outcome` for `identifier`, as
/// the rewrite of `packet` (the request or the answer): sent to `client`
/// (16 octets, IPv4-mapped for IPv4) from `packet`'s destination with the
/// header fields `packet` passes on (§7.6). Returns the packet length.
#[inline(always)]
pub fn build(
    frame: &mut Frame,
    packet: &Packet,
    client: [u8; 16],
    identifier: u16,
    outcome: Outcome,
) -> usize {
    let ip = packet.reply_to(client);
    frame.reply_to(&packet.ethernet);
    // Sequence 0 always (Q-4, §12.2 item 2).
    let response = Response {
        identifier,
        sequence: 0,
        outcome,
    };
    response.build(&ip, &mut frame.packet)
}
