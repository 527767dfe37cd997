using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Configuration;

namespace Patch.Application.Notifications;

/// <summary>
/// Where a webhook may be delivered. A notification is posted from inside the network Patch runs in, so a subscription
/// to a loopback, private, link-local or cloud-metadata address (127.0.0.1, 10.0.0.5, 169.254.169.254, fd00::1…) would
/// make the server a way into that network. They are refused unless <c>Patch:Webhooks:AllowPrivateAddresses</c> is true
/// (a receiver on the same network, as GitLab's "allow requests to the local network"): an address written in the URL
/// when the subscription is saved, and every address a host name resolves to when a delivery connects (a name that
/// resolves inside, a redirect there, a name whose answer changed since).
/// </summary>
public static class WebhookAddresses
{
    public const string AllowSetting = "Patch:Webhooks:AllowPrivateAddresses";

    public static bool Allowed(IConfiguration config) => config.GetValue(AllowSetting, false);

    /// <summary>What is wrong with the URL's host when private addresses are not allowed (its literal address, "localhost"), or null.</summary>
    public static string? Problem(string url, bool allowPrivate)
    {
        if (!Uri.TryCreate(url, UriKind.Absolute, out var uri)) return null;
        if (uri.Port == 0) return "url: port 0 is no port a receiver listens on";
        if (allowPrivate) return null;
        // "localhost." is localhost as a fully qualified name (the root's trailing dot): the same host.
        var host = uri.IdnHost.Trim('[', ']').TrimEnd('.');
        if (host.Equals("localhost", StringComparison.OrdinalIgnoreCase) || host.EndsWith(".localhost", StringComparison.OrdinalIgnoreCase))
            return $"url: '{uri.Host}' is this server itself; {Why}";
        if (!IPAddress.TryParse(host, out var address) || !IsInternal(address)) return null;
        if (address.IsIPv4MappedToIPv6) address = address.MapToIPv4();
        return $"url: {address} is a{(IPAddress.IsLoopback(address) ? " loopback" : " private or link-local")} address; {Why}";
    }

    private const string Why = $"webhooks go to addresses outside this server's network unless {AllowSetting} is true.";

    /// <summary>Loopback, private, carrier-grade NAT, link-local (cloud metadata), unique-local, unspecified, multicast or broadcast.</summary>
    public static bool IsInternal(IPAddress address)
    {
        if (address.IsIPv4MappedToIPv6) address = address.MapToIPv4();
        if (IPAddress.IsLoopback(address) || address.Equals(IPAddress.Any) || address.Equals(IPAddress.IPv6Any) || address.Equals(IPAddress.Broadcast)) return true;
        if (address.AddressFamily == AddressFamily.InterNetwork)
        {
            var b = address.GetAddressBytes();
            return b[0] is 0 or 10 or 127 || b[0] >= 224 || b[0] == 169 && b[1] == 254 || b[0] == 172 && b[1] is >= 16 and <= 31
                || b[0] == 192 && b[1] == 168 || b[0] == 100 && b[1] is >= 64 and <= 127;
        }
        var v6 = address.GetAddressBytes();
        return address.IsIPv6LinkLocal || address.IsIPv6SiteLocal || address.IsIPv6Multicast || (v6[0] & 0xFE) == 0xFC;
    }

    private static bool ViaProxy(SocketsHttpConnectionContext context) =>
        context.InitialRequestMessage.RequestUri is { } target && !HttpClient.DefaultProxy.IsBypassed(target)
        && HttpClient.DefaultProxy.GetProxy(target) is { } proxy && string.Equals(proxy.Host, context.DnsEndPoint.Host, StringComparison.OrdinalIgnoreCase);

    /// <summary>
    /// The delivery client's connection: every address the host resolves to is checked, and the first allowed one is
    /// connected to (a name that resolves only inside is refused, naming what it resolved to).
    /// </summary>
    public static SocketsHttpHandler Handler(bool allowPrivate) => new()
    {
        ConnectCallback = async (context, ct) =>
        {
            var host = context.DnsEndPoint.Host;
            var addresses = IPAddress.TryParse(host.Trim('[', ']'), out var literal) ? [literal] : await Dns.GetHostAddressesAsync(host, ct);
            // The process's proxy (HTTPS_PROXY, often on the organisation's own network) is connected to as it is: it resolves
            // the receiver's name itself, whose URL was checked when the subscription was saved.
            var usable = allowPrivate || ViaProxy(context) ? addresses : addresses.Where(a => !IsInternal(a)).ToArray();
            if (usable.Length == 0)
                throw new HttpRequestException(addresses.Length == 0 ? $"'{host}' resolves to no address"
                    : $"'{host}' resolves to {string.Join(", ", addresses.Select(a => a.ToString()))}, inside this server's network; {Why}");
            var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            try
            {
                await socket.ConnectAsync(usable, context.DnsEndPoint.Port, ct);
                return new NetworkStream(socket, ownsSocket: true);
            }
            catch
            {
                socket.Dispose();
                throw;
            }
        },
    };
}
