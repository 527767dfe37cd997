using Patch.Domain.Policies;

namespace Patch.Domain.Cycle;

/// <summary>Wake-on-LAN: the magic packet, and when a policy run is close enough to wake its computers.</summary>
public static class WakeOnLan
{
    /// <summary>Six 0xFF bytes, then the MAC address sixteen times (102 bytes).</summary>
    public static byte[] MagicPacket(string mac)
    {
        var hex = mac.Replace(":", "").Replace("-", "");
        if (hex.Length != 12 || !hex.All(Uri.IsHexDigit)) throw new FormatException($"'{mac}' is not a MAC address like 00:1A:2B:3C:4D:5E");
        var address = Convert.FromHexString(hex);
        var packet = new byte[6 + 16 * 6];
        Array.Fill(packet, (byte)0xFF, 0, 6);
        for (var i = 0; i < 16; i++) address.CopyTo(packet, 6 + i * 6);
        return packet;
    }

    /// <summary>
    /// The next run of any of the schedules that starts within <paramref name="lead"/> after <paramref name="now"/>:
    /// its computers are woken once, that far ahead, so they are up when the run begins.
    /// </summary>
    public static DateTimeOffset? RunToWakeFor(IEnumerable<PolicySchedule> schedules, DateTimeOffset now, TimeSpan lead) =>
        schedules.Select(s => InstallCycle.NextRun(s, now)).Where(t => t is not null && t <= now + lead).Min();
}
